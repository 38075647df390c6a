"""Cutting removed units out of a DAG model (nifgraph.dag_shrink). Ground truth: hand-planted
units whose removal is exact -- dead channels (always 0) and channels stuck at a constant --
so the cut program must give the *full* model's logits, with exactly the weights of the
smaller model a user would build by hand; and units that cannot be cut exactly (a zero-padding
conv reading a nonzero constant, a residual add, a shared weight) must stay masked, still
computing the removal, with the reason said."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from nifgraph import dag_shrink
from nifgraph.dag import read_module
from nifgraph.dag_shrink import shrunk_program


class _Cnn(nn.Module):
    """conv(1→4, pad p1) → relu → conv(4→5, pad p2) → relu → maxpool 2 → flatten → linear(5·2·2 → 3)."""

    def __init__(self, p1: int = 1, p2: int = 1) -> None:
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(1, 4, 3, padding=p1), nn.Conv2d(4, 5, 3, padding=p2)
        self.head = nn.Linear(5 * 2 * 2, 3)
        self.size = 6

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.c2(torch.relu(self.c1(x))))
        return self.head(nn.functional.adaptive_max_pool2d(h, 2).flatten(1))


def _inputs(n: int, size: int, seed: int = 0) -> torch.Tensor:
    return torch.as_tensor(np.random.default_rng(seed).standard_normal((n, 1, size, size)), dtype=torch.float32)


def _fill(dag, x):
    return [a.mean(axis=0) for a in dag.forward_layers(x.reshape(len(x), -1).numpy())]


def _planted(p1: int = 1, p2: int = 1, stuck: float = 0.7) -> _Cnn:
    torch.manual_seed(0)
    m = _Cnn(p1, p2).eval()
    with torch.no_grad():
        m.c1.weight[1], m.c1.bias[1] = 0.0, -1.0  # channel 1 of c1: dead (relu of -1)
        m.c2.weight[3], m.c2.bias[3] = 0.0, stuck  # channel 3 of c2: stuck at `stuck`
    return m


def test_dead_and_constant_channels_are_cut_and_the_logits_are_the_full_models():
    m = _planted()
    x = _inputs(40, m.size)
    dag = read_module(m, x[:2])
    res = shrunk_program(dag, [(1, 1), (2, 3)], _fill(dag, x), x.reshape(40, -1).numpy())
    assert res.cut == ((1, 1), (2, 3)) and res.masked == () and res.why_masked == {}
    assert res.layer_sizes == (m.size * m.size, 3, 4, 3)
    small = res.program.module()
    sd = res.program.state_dict
    assert tuple(sd["c1.weight"].shape) == (3, 1, 3, 3) and tuple(sd["c1.bias"].shape) == (3,)
    assert tuple(sd["c2.weight"].shape) == (4, 3, 3, 3)  # out channel 3 gone, in channel 1 gone
    assert tuple(sd["head.weight"].shape) == (3, 16)  # 4 of the 5 channels × 2×2 positions
    # the hand-made smaller model: the stuck channel's 0.7 × its head columns moved into the head bias
    cols = [3 * 4 + j for j in range(4)]
    want_bias = m.head.bias.detach() + 0.7 * m.head.weight.detach()[:, cols].sum(dim=1)
    torch.testing.assert_close(sd["head.bias"], want_bias)
    assert sum(p.numel() for p in res.program.parameters()) == 3 * 9 + 3 + 4 * 27 + 4 + 3 * 16 + 3
    for n in (1, 7):  # any batch size
        xb = _inputs(n, m.size, seed=3)
        with torch.no_grad():
            torch.testing.assert_close(small(xb), m(xb), atol=1e-5, rtol=1e-5)


def test_a_nonzero_constant_read_by_a_padding_conv_stays_masked_but_one_read_without_padding_is_cut():
    for p2, cut in ((1, False), (0, True)):
        torch.manual_seed(0)
        m = _Cnn(1, p2).eval()
        with torch.no_grad():
            m.c1.weight[2], m.c1.bias[2] = 0.0, 1.25  # c1 channel 2 stuck at 1.25, read by c2
        x = _inputs(30, m.size)
        dag = read_module(m, x[:2])
        res = shrunk_program(dag, [(1, 2)], _fill(dag, x), x.reshape(30, -1).numpy())
        if cut:
            assert res.cut == ((1, 2),) and res.layer_sizes[1] == 3
            # folded exactly: the c2 bias gains 1.25 × the kernel's sum over channel 2
            want = m.c2.bias.detach() + 1.25 * m.c2.weight.detach()[:, 2].sum(dim=(1, 2))
            torch.testing.assert_close(res.program.state_dict["c2.bias"], want)
        else:
            assert res.masked == ((1, 2),) and "pads with zeros" in res.why_masked[1]
            assert res.layer_sizes == dag.layer_sizes
        with torch.no_grad():
            torch.testing.assert_close(res.program.module()(x), m(x), atol=1e-5, rtol=1e-5)


class _Res(nn.Module):
    """stem conv → relu → [conv a → relu → conv b] + stem → relu → mean → linear."""

    def __init__(self) -> None:
        super().__init__()
        self.stem, self.a, self.b = nn.Conv2d(1, 3, 3, padding=1), nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 3, 3, padding=1)
        self.head = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.relu(self.stem(x))
        y = torch.relu(self.b(torch.relu(self.a(s))) + s)
        return self.head(y.mean(dim=(2, 3)))


def test_units_inside_a_residual_block_are_cut_and_units_on_the_skip_path_stay_masked():
    torch.manual_seed(1)
    m = _Res().eval()
    with torch.no_grad():
        m.a.weight[2], m.a.bias[2] = 0.0, -2.0  # a's channel 2: dead, read only by b
        m.stem.weight[0], m.stem.bias[0] = 0.0, -3.0  # stem channel 0: dead, read by a and by the skip add
    x = _inputs(25, 6)
    dag = read_module(m, x[:2])
    names = [la.name for la in dag.layers]
    la, ls = names.index("a"), names.index("stem")
    res = shrunk_program(dag, [(la, 2), (ls, 0)], _fill(dag, x), x.reshape(25, -1).numpy())
    assert res.cut == ((la, 2),) and res.masked == ((ls, 0),)
    assert "residual add" in res.why_masked[ls]
    assert tuple(res.program.state_dict["a.weight"].shape) == (3, 3, 3, 3)
    assert tuple(res.program.state_dict["b.weight"].shape) == (3, 3, 3, 3)
    with torch.no_grad():
        torch.testing.assert_close(res.program.module()(x), m(x), atol=1e-5, rtol=1e-5)


def test_a_reshape_in_a_program_of_fixed_batch_size_is_rewritten():
    class Mlp(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b, self.c = nn.Linear(5, 6), nn.Linear(6, 4), nn.Linear(4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            g = torch.tanh(self.b(torch.relu(self.a(x)))) * 2.0
            return self.c(g.reshape(x.shape[0], 4))

    torch.manual_seed(2)
    m = Mlp().eval()
    with torch.no_grad():
        m.a.weight[2], m.a.bias[2] = 0.0, 1.5  # stuck at 1.5
        m.b.weight[1], m.b.bias[1] = 0.0, -0.3  # stuck at 2 tanh(-0.3) after the scale
    x = torch.randn(40, 5)
    dag = read_module(torch.export.export(m, (x[:4],)), x[:1])
    assert dag.batch == 4
    res = shrunk_program(dag, [(1, 2), (2, 1)], _fill(dag, x), x.numpy())
    assert res.cut == ((1, 2), (2, 1)) and res.layer_sizes == (5, 5, 3, 3)
    want_c_bias = m.c.bias.detach() + 2 * np.tanh(-0.3) * m.c.weight.detach()[:, 1]
    torch.testing.assert_close(res.program.state_dict["c.bias"], want_c_bias.float())
    with torch.no_grad():
        torch.testing.assert_close(res.program.module()(x[:4]), m(x[:4]), atol=1e-5, rtol=1e-5)


def test_a_shared_weight_is_not_cut():
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.c = nn.Linear(4, 4), nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.c(torch.relu(self.a(torch.relu(self.a(x)))))

    torch.manual_seed(3)
    m = Tied().eval()
    with torch.no_grad():
        m.a.weight[1], m.a.bias[1] = 0.0, -1.0
    x = torch.randn(20, 4)
    dag = read_module(m, x[:2])
    res = shrunk_program(dag, [(1, 1)], _fill(dag, x), x.numpy())
    assert res.masked == ((1, 1),) and res.cut == ()
    with torch.no_grad():
        torch.testing.assert_close(res.program.module()(x), m(x), atol=1e-5, rtol=1e-5)


def test_a_cut_that_changes_the_logits_is_not_kept(monkeypatch):
    """The safety net: if cutting went wrong (here: a bias is corrupted after the cut), the
    result is the masked program, which computes the removal, and the reason says why."""
    m = _planted()
    x = _inputs(20, m.size)
    dag = read_module(m, x[:2])
    real = dag_shrink._apply

    def corrupting(gm, plans, wheres):
        real(gm, plans, wheres)
        with torch.no_grad():
            gm.get_submodule("head").bias += 0.5

    monkeypatch.setattr(dag_shrink, "_apply", corrupting)
    res = shrunk_program(dag, [(1, 1), (2, 3)], _fill(dag, x), x.reshape(20, -1).numpy())
    assert res.cut == () and res.masked == ((1, 1), (2, 3)) and "changed the logits" in res.why_masked[1]
    assert res.layer_sizes == dag.layer_sizes
    with torch.no_grad():
        torch.testing.assert_close(res.program.module()(x), m(x), atol=1e-5, rtol=1e-5)


def test_no_sample_rows_is_refused():
    m = _planted()
    x = _inputs(4, m.size)
    dag = read_module(m, x[:2])
    with pytest.raises(ValueError, match="at least one sample"):
        shrunk_program(dag, [(1, 1)], _fill(dag, x), np.zeros((0, m.size * m.size)))


class _Two(nn.Module):
    """c1 (1→5) → relu → [between] → c2 (5→4, padding p, bias b) → relu → flatten → linear."""

    def __init__(self, between: nn.Module | None = None, p: int = 1, bias: bool = True, mode: str = "zeros") -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, 5, 3, padding=1)
        self.between = between or nn.Identity()
        self.c2 = nn.Conv2d(5, 4, 3, padding=p, bias=bias, padding_mode=mode)
        self.head = nn.LazyLinear(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.c2(self.between(torch.relu(self.c1(x))))).flatten(1))


def _two(**kw) -> tuple[_Two, torch.Tensor]:
    torch.manual_seed(4)
    m = _Two(**kw)
    x = _inputs(24, 6)
    m(x[:2])  # materialise the lazy head
    m.eval()
    with torch.no_grad():
        m.c1.weight[1], m.c1.bias[1] = 0.0, -1.0  # dead
        m.c1.weight[4], m.c1.bias[4] = 0.0, 0.5  # stuck at 0.5
    return m, x


def _shrink(m, x, removed):
    dag = read_module(m, x[:2])
    res = shrunk_program(dag, removed, _fill(dag, x), x.reshape(len(x), -1).numpy())
    with torch.no_grad():
        torch.testing.assert_close(res.program.module()(x), m(x), atol=1e-5, rtol=1e-5)  # dead/constant: exact
    return res


def test_in_one_layer_the_dead_channel_is_cut_and_the_padded_constant_masked():
    m, x = _two()
    res = _shrink(m, x, [(1, 1), (1, 4)])
    assert res.cut == ((1, 1),) and res.masked == ((1, 4),) and "unit(s) [4]" in res.why_masked[1]
    assert res.layer_sizes[1] == 4 and tuple(res.program.state_dict["c1.weight"].shape) == (4, 1, 3, 3)


def test_a_constant_read_by_a_conv_without_bias_gets_a_new_bias():
    m, x = _two(p=0, bias=False)
    res = _shrink(m, x, [(1, 1), (1, 4)])
    assert res.cut == ((1, 1), (1, 4)) and res.masked == ()
    bias = [v for k, v in res.program.state_dict.items() if k.startswith("nifgraph_bias")]
    assert len(bias) == 1
    torch.testing.assert_close(bias[0], 0.5 * m.c2.weight.detach()[:, 4].sum(dim=(1, 2)))


@pytest.mark.parametrize("between,mode,p,cut", [
    (nn.AvgPool2d(3, stride=1, padding=1), "zeros", 1, ((1, 1),)),  # zero padding keeps only the dead channel's 0
    (nn.Identity(), "reflect", 1, ((1, 1), (1, 4))),  # reflect padding keeps any constant
    # a BatchNorm after the pool shifts both constants off 0 (cut when c2 does not pad) and loses their entries
    (nn.Sequential(nn.MaxPool2d(2), nn.BatchNorm2d(5).eval()), "zeros", 1, ()),
    (nn.Sequential(nn.MaxPool2d(2), nn.BatchNorm2d(5).eval()), "zeros", 0, ((1, 1), (1, 4))),
])
def test_ops_on_positions_between_the_layers(between, mode, p, cut):
    if isinstance(between, nn.Sequential):
        with torch.no_grad():
            between[1].running_mean.uniform_(-1, 1)
            between[1].running_var.uniform_(0.5, 2)
    m, x = _two(between=between, mode=mode, p=p)
    res = _shrink(m, x, [(1, 1), (1, 4)])
    assert res.cut == cut
    assert set(res.masked) == {(1, 1), (1, 4)} - set(cut)
    if isinstance(between, nn.Sequential) and cut:
        assert tuple(res.program.state_dict["between.1.running_mean"].shape) == (3,)


def test_a_layer_is_never_cut_to_nothing_and_a_linear_along_positions_is_not_cut():
    m, x = _two()
    dag = read_module(m, x[:2])
    res = shrunk_program(dag, [(1, i) for i in range(5)], _fill(dag, x), x.reshape(24, -1).numpy())
    assert res.cut == () and "all its units are removed" in res.why_masked[1]

    class Rows(nn.Module):  # a Linear over each row of the image: its "units" are rows
        def __init__(self) -> None:
            super().__init__()
            self.l1, self.l2 = nn.Linear(6, 4), nn.Linear(24, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.l2(torch.relu(self.l1(x.reshape(x.shape[0], 6, 6))).flatten(1))

    rows = Rows().eval()
    flat = x.reshape(24, 36)
    dag = read_module(rows, flat[:2])
    res = shrunk_program(dag, [(1, 2)], _fill(dag, flat), flat.numpy())
    assert res.cut == () and res.masked == ((1, 2),)
    with torch.no_grad():
        torch.testing.assert_close(res.program.module()(flat), torch.as_tensor(dag.logits(flat, [(1, 2)], _fill(dag, flat)),
                                                                            dtype=torch.float32), atol=1e-5, rtol=1e-5)


def test_same_padding_is_read_and_a_graph_that_fixes_the_batch_runs_in_chunks():
    m = nn.Sequential(nn.Conv2d(1, 3, 3, padding="same"), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 36, 2)).eval()
    assert read_module(m, _inputs(2, 6)).layer_sizes == (36, 3, 2)

    class Baked(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c, self.l = nn.Conv2d(1, 3, 3), nn.Linear(48, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = torch.relu(self.c(x))
            return self.l(h.reshape(len(h), -1))

    baked = Baked().eval()
    ep = torch.export.export(baked, (_inputs(2, 6),), dynamic_shapes=({0: torch.export.Dim.AUTO},))  # len(h): 2
    dag = read_module(ep, _inputs(2, 6))
    assert dag.batch == 2
    x = _inputs(5, 6, seed=9)
    with torch.no_grad():
        np.testing.assert_allclose(dag.logits(x), baked(x).numpy(), atol=1e-5)
    res = shrunk_program(dag, [(1, 0)], _fill(dag, x), x.reshape(5, -1).numpy())
    from nifgraph.dag import run_program

    np.testing.assert_allclose(run_program(res.program, x).numpy(), dag.logits(x, [(1, 0)], _fill(dag, x)), atol=1e-5)


def _planted_c1(m: nn.Module, *, stuck: bool) -> tuple[nn.Module, torch.Tensor]:
    """``m`` re-initialised from seed 4, in eval mode, with channel 1 of ``m.c1`` dead and, if
    ``stuck``, channel 4 stuck at 0.5; and 24 sample images of 6×6."""
    torch.manual_seed(4)
    for layer in m.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            layer.reset_parameters()
    m.eval()
    with torch.no_grad():
        m.c1.weight[1], m.c1.bias[1] = 0.0, -1.0  # dead
        if stuck:
            m.c1.weight[4], m.c1.bias[4] = 0.0, 0.5  # stuck at 0.5
    return m, _inputs(24, 6)


class _Pooled(nn.Module):
    """c1 (1→5) → relu → a global pooling in one of the forms models write it → linear (5→3)."""

    def __init__(self, form: str) -> None:
        super().__init__()
        self.form = form
        self.c1 = nn.Conv2d(1, 5, 3, padding=1)
        self.fc = nn.Linear(5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.c1(x))
        f = torch.nn.functional
        g = {
            "squeeze": lambda: f.adaptive_avg_pool2d(h, 1).squeeze(-1).squeeze(-1),
            "squeeze dims": lambda: f.adaptive_avg_pool2d(h, 1).squeeze((2, 3)),
            "index": lambda: f.adaptive_max_pool2d(h, 1)[:, :, 0, 0],
            "crop": lambda: h[:, :, 1:, 2:].unsqueeze(-1).mean((2, 3, 4)),
            "units sliced": lambda: torch.cat([h[:, 1:].mean((2, 3)), h[:, :1].mean((2, 3))], 1),
        }[self.form]()
        return self.fc(g)


@pytest.mark.parametrize("form,cut", [
    ("squeeze", ((1, 1), (1, 4))), ("squeeze dims", ((1, 1), (1, 4))), ("index", ((1, 1), (1, 4))),
    ("crop", ((1, 1), (1, 4))),
    ("units sliced", ()),  # slicing along the units (then a cat) reorders them: kept, masked
])
def test_global_pooling_written_as_squeeze_index_or_crop_is_cut(form, cut):
    m, x = _planted_c1(_Pooled(form), stuck=True)  # the stuck channel: no reader pads, so it is cut too
    res = _shrink(m, x, [(1, 1), (1, 4)])
    assert res.cut == cut and set(res.masked) == {(1, 1), (1, 4)} - set(cut)
    if cut:
        assert tuple(res.program.state_dict["fc.weight"].shape) == (3, 3)
        assert res.layer_sizes[1] == 3


class _Separable(nn.Module):
    """c1 (1→5) → relu → depthwise 3×3 (groups 5, padding p) → BatchNorm → relu → pointwise 1×1 (5→4) → linear."""

    def __init__(self, p: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, 5, 3, padding=1)
        self.dw = nn.Conv2d(5, 5, 3, padding=p, groups=5)
        self.bn = nn.BatchNorm2d(5)
        self.pw = nn.Conv2d(5, 4, 1)
        self.head = nn.LazyLinear(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn(self.dw(torch.relu(self.c1(x)))))
        return self.head(torch.relu(self.pw(h)).flatten(1))


@pytest.mark.parametrize("p,cut", [
    (1, ((1, 1),)),  # the depthwise conv pads: the stuck channel's filter output varies at the border
    (0, ((1, 1), (1, 4))),  # no padding: both channels' depthwise outputs are constants, folded into pw
])
def test_a_depthwise_conv_loses_the_channels_it_reads_from_a_cut_channel(p, cut):
    torch.manual_seed(4)
    m = _Separable(p)
    x = _inputs(24, 6)
    m(x[:2])
    m.eval()
    with torch.no_grad():
        m.bn.running_mean.uniform_(-1, 1)
        m.bn.running_var.uniform_(0.5, 2)
        m.c1.weight[1], m.c1.bias[1] = 0.0, -1.0  # dead: the depthwise channel 1 becomes its bias, everywhere
        m.c1.weight[4], m.c1.bias[4] = 0.0, 0.5  # stuck at 0.5
    res = _shrink(m, x, [(1, 1), (1, 4)])
    assert res.cut == cut and res.also_cut == tuple((2, i) for _, i in cut)
    assert set(res.masked) == {(1, 1), (1, 4)} - set(cut)
    left = 5 - len(cut)
    assert res.layer_sizes == (36, left, left, 4, 3)
    sd = res.program.state_dict
    assert tuple(sd["dw.weight"].shape) == (left, 1, 3, 3) and tuple(sd["bn.running_mean"].shape) == (left,)
    assert tuple(sd["pw.weight"].shape) == (4, left, 1, 1)


def test_a_depthwise_layer_with_removals_of_its_own_is_cut_through_its_mask():
    """The dead channel 1 and its depthwise channel 1 are both removed (cut together); depthwise
    channel 3, removed on its own (its input channel kept), stays masked in the shrunk layer."""
    torch.manual_seed(4)
    m = _Separable(1)
    x = _inputs(24, 6)
    m(x[:2])
    m.eval()
    with torch.no_grad():
        m.c1.weight[1], m.c1.bias[1] = 0.0, -1.0
    dag = read_module(m, x[:2])
    fill = _fill(dag, x)
    removed = [(1, 1), (2, 1), (2, 3)]
    res = shrunk_program(dag, removed, fill, x.reshape(len(x), -1).numpy())
    assert res.cut == ((1, 1), (2, 1)) and res.masked == ((2, 3),) and res.also_cut == ()
    assert res.layer_sizes == (36, 4, 4, 4, 3)
    sd = res.program.state_dict
    assert tuple(sd["dw.weight"].shape) == (4, 1, 3, 3) and tuple(sd["nifgraph_removed_2"].shape[:2]) == (1, 4)
    with torch.no_grad():
        want = torch.as_tensor(dag.logits(x.reshape(len(x), -1).numpy(), removed, fill), dtype=torch.float32)
        torch.testing.assert_close(res.program.module()(x), want, atol=1e-5, rtol=1e-5)


class _Head(nn.Module):
    """c1 (1→5) → relu → ``head(h)`` → linear (5→3): the ways of reading the units a trial found."""

    def __init__(self, head) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, 5, 3, padding=1)
        self.fc = nn.Linear(5, 3)
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.head(torch.relu(self.c1(x))))


@pytest.mark.parametrize("head,why", [
    # shifts the channels by one (same count): reading it as positions would feed fc the wrong units
    (lambda h: torch.nn.functional.pad(h, (0, 0, 0, 0, 1, -1)).mean((2, 3)), "pads the units"),
    # a 1-d pool of an (N, units) tensor is an unbatched signal to torch: it pools across the units
    (lambda h: torch.nn.functional.max_pool1d(h.mean((2, 3)), 3, 1, 1), "would act on the units"),
    # dim=None reduces everything, the units included (it used to raise a TypeError)
    (lambda h: h.mean((2, 3)) / (1 + h.mean(dim=None)), "mixes the layer's units"),
])
def test_ops_that_act_on_the_units_are_not_read_as_positions(head, why):
    m, x = _planted_c1(_Head(head), stuck=False)
    res = _shrink(m, x, [(1, 1)])
    assert res.cut == () and res.masked == ((1, 1),) and why in res.why_masked[1]


def test_a_new_bias_follows_its_readers_rows_cut_by_another_layer():
    """MobileNet-v1 style (readers without bias): layer 1's constant goes into a new bias of layer
    2, whose own unit 3 is cut: the new bias loses that row too (it used to fail the export)."""
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 5, bias=False), nn.ReLU(), nn.Linear(5, 3)).eval()
    with torch.no_grad():
        m[0].weight[1], m[0].bias[1] = 0.0, 0.7  # stuck at 0.7
    x = torch.randn(30, 6)
    dag = read_module(m, x[:2])
    fill = [a.mean(axis=0) for a in dag.forward_layers(x.numpy())]
    res = shrunk_program(dag, [(1, 1), (2, 3)], fill, x.numpy())
    assert res.cut == ((1, 1), (2, 3)) and res.layer_sizes == (6, 4, 4, 3)
    bias = [v for k, v in res.program.state_dict.items() if k.startswith("nifgraph_bias")]
    assert [tuple(b.shape) for b in bias] == [(4,)]
    with torch.no_grad():
        want = torch.as_tensor(dag.logits(x.numpy(), [(1, 1), (2, 3)], fill), dtype=torch.float32)
        torch.testing.assert_close(res.program.module()(x), want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("batch", [1, 4])
def test_a_program_that_bakes_its_batch_into_a_view_keeps_that_batch(batch):
    """view(B, C, -1) still traces at batch 2, computing something else: the re-exported program
    keeps batch B (and runs in chunks of it) instead of claiming a free batch."""
    from nifgraph.dag import program_batch, run_program

    class Baked(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c, self.fc = nn.Conv2d(1, 5, 3, padding=1), nn.Linear(5, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = torch.relu(self.c(x))
            return self.fc(h.view(batch, h.shape[1], -1).mean(-1))

    torch.manual_seed(0)
    m = Baked().eval()
    x = torch.randn(40, 1, 8, 8)
    dag = read_module(torch.export.export(m, (x[:batch],)), x[:batch])
    flat = x.reshape(40, -1).numpy()
    fill = [a.mean(axis=0) for a in dag.forward_layers(flat)]
    res = shrunk_program(dag, [(1, 1)], fill, flat)
    assert program_batch(res.program) == batch
    xt = torch.randn(7, 1, 8, 8)
    got = run_program(res.program, xt)
    want = torch.as_tensor(dag.logits(xt.reshape(7, -1).numpy(), [(1, 1)], fill), dtype=torch.float32)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)

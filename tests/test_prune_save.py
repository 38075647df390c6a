"""`prune --save`: the verified recommendation as a smaller network a user can deploy. Ground
truth: a trained Iris MLP with planted units -- two dead ReLUs and one stuck at 2.0 whose
outgoing weights matter (removing it without the fold changes the logits) -- goes through the
CLI; the saved program is loaded back with torch alone and must compute the pruned network."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from nifgraph.errors import ValidationError
from nifgraph.network import from_module, pruned, shrunk
from nifgraph.store import open_store
from nifgraph.stored import model_dataset

from .conftest import invoke


def _planted_iris(tmp_path):
    from nifgraph.data import load_dataset

    ds = load_dataset("iris", seed=0)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    x, y = torch.as_tensor(ds.x_train), torch.as_tensor(ds.y_train)
    for _ in range(300):
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    with torch.no_grad():
        for i in (5, 6):  # dead: never above zero
            net[0].weight[i] = 0.0
            net[0].bias[i] = -1.0
        net[0].weight[7] = 0.0  # stuck at 2.0, read by the logits
        net[0].bias[7] = 2.0
        net[2].weight[:, 7] = torch.tensor([1.5, -0.5, -1.0])
    path = tmp_path / "planted.pt"
    torch.save(net, path)
    return path, net


def _import_and_save(out, *train_args: str) -> tuple[str, dict]:
    """``train *train_args``, ``estimate`` (gcmi), ``prune --save out --json``: the model id and
    what ``saved`` says."""
    res = invoke("train", *train_args, "--json")
    assert res.exit_code == 0, res.output
    mid = json.loads(res.stdout)["model_id"]
    assert invoke("estimate", mid, "--estimator", "gcmi").exit_code == 0
    res = invoke("prune", mid, "--save", str(out), "--json")
    assert res.exit_code == 0, res.output
    return mid, json.loads(res.stdout)["saved"]


def test_prune_save_writes_the_verified_smaller_network(tmp_path):
    path, net = _planted_iris(tmp_path)
    out = tmp_path / "pruned.pt2"
    mid, saved = _import_and_save(out, "--model-file", str(path), "--trust-model-file")
    removed = {(u["layer"], u["idx"]): u["folded_constant"] for u in saved["removed"]}
    assert set(removed) == {(1, 5), (1, 6), (1, 7)}  # the planted units, and only they, are recommended
    assert removed[(1, 7)] == pytest.approx(2.0) and removed[(1, 5)] == 0.0
    assert saved["architecture_before"] == "4-8-3" and saved["architecture_after"] == f"4-{8 - len(removed)}-3"

    small = torch.export.load(str(out)).module()  # torch alone
    with open_store() as st:
        model = st.get_model(mid)
        analysis = st.get_analysis(st.list_runs(mid)[-1].run_id)
    ds = model_dataset(model)
    xt = torch.as_tensor(ds.x_test)
    with torch.no_grad():
        got = small(xt).numpy()
        want = net(xt).numpy()  # dead and constant units only: the fold is exact, the logits are the full network's
    acc = float((got.argmax(1) == ds.y_test).mean())
    assert acc == pytest.approx(analysis.accuracy_after) == pytest.approx(saved["accuracy_after"])
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in net.parameters())
    assert not list(tmp_path.glob(".pruned-*"))  # no temporary file left


def test_prune_save_of_a_dag_model_masks_the_verified_units_inside_its_graph(tmp_path):
    """The hand-built residual CNN (exported for batches of 4): its dead channel and its two
    constant block channels are recommended; the saved program, loaded with torch alone, keeps
    the shapes, overwrites those channels with their constants, gives the full model's logits
    (the channels are constant, so the removal is exact) on any batch size, and the verified
    accuracy; removing a channel that matters changes the logits (the mask is really there)."""
    from nifgraph.stored import load_model_network

    from .handbuilt import ResidualCNN, import_residual_cnn, residual_cnn_inputs

    with open_store() as st:
        mid = import_residual_cnn(st, tmp_path, n=600).model_id
    assert invoke("estimate", mid, "--estimator", "gcmi").exit_code == 0
    out = tmp_path / "pruned.pt2"
    res = invoke("prune", mid, "--save", str(out), "--json")
    assert res.exit_code == 0, res.output
    saved = json.loads(res.stdout)["saved"]
    assert saved["form"] == "masked" and saved["input_shape"] == list(ResidualCNN.INPUT_SHAPE)
    assert saved["architecture_after"] == saved["architecture_before"] == "12-3-3-2"
    removed = {(u["layer"], u["idx"]): u["folded_constant"] for u in saved["removed"]}
    assert set(removed) == ResidualCNN.PRUNABLE and removed[(1, 1)] == 0.0
    program = torch.export.load(str(out)).module()
    full = ResidualCNN().eval()
    for n in (1, 7):  # not the batch size it was exported for
        x = torch.as_tensor(residual_cnn_inputs(n, seed=5)).reshape(n, *ResidualCNN.INPUT_SHAPE)
        with torch.no_grad():
            np.testing.assert_allclose(program(x).numpy(), full(x).numpy(), atol=1e-5)
    with open_store() as st:
        model = st.get_model(mid)
        dag, analysis = load_model_network(model, st), st.get_analysis(st.list_runs(mid)[-1].run_id)
    ds = model_dataset(model)
    assert saved["accuracy_after"] == analysis.accuracy_after == 1.0
    fill = dag.unit_means(ds.x_train)
    harmful = dag.masked_program([(1, 0)], fill).module()  # stem channel 0 carries class 0's signal
    x = torch.as_tensor(ds.x_test, dtype=torch.float32).reshape(len(ds.x_test), *ResidualCNN.INPUT_SHAPE)
    with torch.no_grad():
        np.testing.assert_allclose(harmful(x).numpy(), dag.logits(ds.x_test, [(1, 0)], fill), atol=1e-5)
        assert not np.allclose(harmful(x).numpy(), full(x).numpy(), atol=1e-2)


def test_prune_save_refuses_bad_paths_in_one_line(tmp_path):
    path, _ = _planted_iris(tmp_path)
    mid = json.loads(invoke("train", "--model-file", str(path), "--trust-model-file", "--json").stdout)["model_id"]
    assert invoke("estimate", mid, "--estimator", "gcmi").exit_code == 0
    for bad, needle in ((str(tmp_path / "nope" / "p.pt2"), "existing folder"), (str(tmp_path), "existing folder")):
        res = invoke("prune", mid, "--save", bad)
        lines = res.output.strip().splitlines()
        assert res.exit_code == 1 and len(lines) == 1 and needle in lines[0], res.output
    res = invoke("prune", mid, "--curve", "--save", str(tmp_path / "p.pt2"))
    assert res.exit_code == 1 and "without --curve" in res.output


def test_shrunk_computes_what_pruned_computes_with_fewer_weights():
    torch.manual_seed(1)
    net = from_module(nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 6), nn.ReLU(), nn.Dropout(0.1),
                                    nn.Linear(6, 3)).eval())
    x = np.random.default_rng(0).standard_normal((50, 5)).astype(np.float32)
    means = [np.zeros(5), np.linspace(-1, 1, 7), np.linspace(0, 2, 6), np.zeros(3)]
    units = [(1, 0), (1, 4), (2, 5), (2, 1)]
    small = shrunk(net, units, means)
    assert small.layer_sizes == (5, 5, 4, 3)
    np.testing.assert_allclose(small.forward_layers(x)[-1], pruned(net, units, means=means).forward_layers(x)[-1],
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValidationError, match="every unit of layer 2"):
        shrunk(net, [(2, i) for i in range(6)], means)


def test_prune_curve_gives_the_order_it_removed():
    """--curve --json names each method's removal order (seed 0); removing its first k units
    by hand (training-split means folded) gives the curve's accuracy at k."""
    import tempfile
    from pathlib import Path

    from nifgraph.analysis.removal import replacement_values
    from nifgraph.network import accuracy
    from nifgraph.stored import load_model_network

    with tempfile.TemporaryDirectory() as tmp:
        path, _ = _planted_iris(Path(tmp))
        mid = json.loads(invoke("train", "--model-file", str(path), "--trust-model-file", "--json").stdout)["model_id"]
    assert invoke("estimate", mid, "--estimator", "gcmi").exit_code == 0
    res = invoke("prune", mid, "--curve", "--seeds", "1", "--json")
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    order = [tuple(u) for u in d["order"]["greedy_kl"]]
    assert sorted(order) == [(1, i) for i in range(8)]
    with open_store() as st:
        model = st.get_model(mid)
        net = load_model_network(model, st)
    ds = model_dataset(model)
    means = replacement_values(net, ds.x_train, "mean")
    for i, k in enumerate(d["ks"]):
        by_hand = accuracy(pruned(net, order[:k], means=means), ds.x_test, ds.y_test) if k else accuracy(net, ds.x_test, ds.y_test)
        assert by_hand == pytest.approx(d["accuracy"]["greedy_kl"][0][i]), k
    res = invoke("prune", mid, "--curve", "--seeds", "1")
    assert "greedy_kl order (seed 0): the first" in " ".join(res.output.split())


def test_prune_save_never_overwrites_a_file(tmp_path):
    """A --save path that exists (the store itself, the model file, an earlier save) is refused
    and left as it was; the file written is readable as any new file."""
    import os

    path, _ = _planted_iris(tmp_path)
    mid = json.loads(invoke("train", "--model-file", str(path), "--trust-model-file", "--json").stdout)["model_id"]
    assert invoke("estimate", mid, "--estimator", "gcmi").exit_code == 0
    store_file = os.environ["NIFGRAPH_STORE"]
    for existing in (store_file, str(path)):
        before = open(existing, "rb").read()
        res = invoke("prune", mid, "--save", existing)
        lines = res.output.strip().splitlines()
        assert res.exit_code == 1 and len(lines) == 1 and "already exists" in lines[0], res.output
        assert open(existing, "rb").read() == before
    res = invoke("prune", mid, "--save", "")
    assert res.exit_code == 1 and "needs a file path" in res.output
    out = tmp_path / "p.pt2"
    assert invoke("prune", mid, "--save", str(out)).exit_code == 0
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask
    assert invoke("prune", mid, "--save", str(out)).exit_code == 1  # the second save does not replace the first


def _fit_digits(m: nn.Module, ds, *, lr: float, steps: int) -> torch.Tensor:
    """Full-batch Adam on the digits training split (images 1×8×8), then eval mode; the images."""
    x, y = torch.as_tensor(ds.x_train, dtype=torch.float32).reshape(-1, 1, 8, 8), torch.as_tensor(ds.y_train)
    opt = torch.optim.Adam(m.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(m(x), y).backward()
        opt.step()
    m.eval()
    return x


@pytest.fixture(scope="module")
def planted_cnn():
    """A digits CNN (conv 1→6 → conv 6→6 → max pool → flatten → linear), trained briefly, with
    channel 1 of the first conv killed (a dead ReLU) and channel 4 of the second stuck at 0.5."""
    from nifgraph.convnets import build_convnet
    from nifgraph.data import load_dataset

    ds = load_dataset("digits", seed=0)
    torch.manual_seed(0)
    m = build_convnet("cnn", (1, 8, 8), 10, (6, 6))
    _fit_digits(m, ds, lr=0.01, steps=60)
    with torch.no_grad():
        m.body[0].weight[1], m.body[0].bias[1] = 0.0, -1.0
        m.body[2].weight[4], m.body[2].bias[4] = 0.0, 0.5
    return m, ds


@pytest.mark.parametrize("batch", ["free", "fixed"])
def test_prune_save_of_a_cnn_cuts_the_planted_channels_out(tmp_path, planted_cnn, batch):
    """Both planted channels are recommended and cut out of the saved program -- fewer weights,
    the readers' weights changed as the fold says -- which, loaded with torch alone, gives the
    pruned model's logits and the verified accuracy; also for a program exported for one batch
    size (torch.export's default), run in chunks of it."""
    from nifgraph.dag import run_program
    from nifgraph.stored import load_model_network

    m, ds = planted_cnn
    x = torch.as_tensor(ds.x_train, dtype=torch.float32).reshape(-1, 1, 8, 8)
    path = tmp_path / "cnn.pt2"
    if batch == "free":
        program = torch.export.export(m, (x[:2],), dynamic_shapes=({0: torch.export.Dim.AUTO},))
    else:  # the head written as view(h.size(0), -1), exported for batches of 2: the view's size is fixed

        class ViewHead(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.body, self.pool, self.head = m.body, m.pool, m.head

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                h = self.pool(self.body(x))
                return self.head(h.view(h.size(0), -1))

        program = torch.export.export(ViewHead().eval(), (x[:2],))
    torch.export.save(program, path)
    out = tmp_path / "cnn-pruned.pt2"
    mid, saved = _import_and_save(out, "--model-file", str(path), "--dataset", "digits")
    cut = {(u["layer"], u["idx"]) for u in saved["removed"] if u["cut"]}
    assert {(1, 1), (2, 4)} <= cut and saved["form"] in ("shrunk", "mixed")
    assert saved["parameters_after"] < saved["parameters_before"] == sum(p.numel() for p in m.parameters())
    program = torch.export.load(str(out))
    n1 = 6 - sum(1 for la, _ in cut if la == 1)
    assert program.state_dict["body.0.weight"].shape[0] == n1 == program.state_dict["body.2.weight"].shape[1]
    assert sum(p.numel() for p in program.parameters()) == saved["parameters_after"]
    with open_store() as st:
        model = st.get_model(mid)
        dag, analysis = load_model_network(model, st), st.get_analysis(st.list_runs(mid)[-1].run_id)
    units = [(u["layer"], u["idx"]) for u in saved["removed"]]
    fill = dag.unit_means(ds.x_train)
    xt = torch.as_tensor(ds.x_test, dtype=torch.float32).reshape(-1, 1, 8, 8)
    got = run_program(program, xt).numpy()
    np.testing.assert_allclose(got, dag.logits(ds.x_test, units, fill), atol=1e-4)
    assert float((got.argmax(1) == ds.y_test).mean()) == pytest.approx(analysis.accuracy_after) == saved["accuracy_after"]
    plain = invoke("prune", mid, "--save", str(tmp_path / "again.pt2"))
    assert plain.exit_code == 0 and "parameters" in plain.output, plain.output


def test_prune_save_of_a_separable_cnn_cuts_the_depthwise_channel_too(tmp_path):
    """conv 1→6 → depthwise 3×3 (no padding) → BatchNorm → pointwise 6→6 → pool → linear, trained
    briefly, channel 2 of the first conv killed: it and the depthwise channel it feeds are
    recommended and both cut; the program, with torch alone, gives the verified accuracy."""
    from nifgraph.data import load_dataset

    ds = load_dataset("digits", seed=0)
    torch.manual_seed(0)
    m = nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 6, 3, groups=6), nn.BatchNorm2d(6), nn.ReLU(),
        nn.Conv2d(6, 6, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 10),
    )
    x = _fit_digits(m, ds, lr=0.03, steps=120)
    with torch.no_grad():
        m[0].weight[2], m[0].bias[2] = 0.0, -1.0
    path, out = tmp_path / "sep.pt2", tmp_path / "sep-pruned.pt2"
    torch.export.save(torch.export.export(m, (x[:2],), dynamic_shapes=({0: torch.export.Dim.AUTO},)), path)
    mid, saved = _import_and_save(out, "--model-file", str(path), "--dataset", "digits")
    cut = {(u["layer"], u["idx"]) for u in saved["removed"] if u["cut"]}
    # the depthwise channel fed by the dead one is constant (its bias), so it is recommended too: the
    # first layer's cut goes through it and through its own removal mask
    assert cut == {(1, 2), (2, 2)} and saved["form"] == "shrunk" and saved["also_cut"] == []
    assert saved["architecture_after"] == "64-5-5-6-10"
    program = torch.export.load(str(out))
    sd = program.state_dict
    n1 = 6 - sum(1 for la, _ in cut if la == 1)
    assert sd["0.weight"].shape[0] == sd["2.weight"].shape[0] == sd["3.running_mean"].shape[0] == n1
    with torch.no_grad():
        got = program.module()(torch.as_tensor(ds.x_test, dtype=torch.float32).reshape(-1, 1, 8, 8)).numpy()
    assert float((got.argmax(1) == ds.y_test).mean()) == saved["accuracy_after"]

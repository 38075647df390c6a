"""The DAG reader (issue #11, first part): layers, their direct inputs and unit activations of
chains, CNNs, residual blocks and concatenations, against hand-computed ground truth."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from nifgraph.dag import read_module
from nifgraph.errors import UnsupportedModelError
from nifgraph.network import from_module


def _x(*shape):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0))


def test_a_chain_reads_as_the_network_reader_does():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.1), nn.Linear(8, 5), nn.Tanh(), nn.Linear(5, 3)).eval()
    x = _x(50, 4)
    dag = read_module(m, x[:2])
    net = from_module(m)
    assert dag.layer_sizes == net.layer_sizes and dag.is_chain()
    assert [layer.activation for layer in dag.layers[1:]] == list(net.activations)
    for a, b in zip(dag.forward_layers(x), net.forward_layers(x.numpy()), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


class _Residual(nn.Module):
    """conv1 → bn → relu = h; conv2 → bn2, + h, relu; pool; fc. The skip joins conv1 to fc."""

    def __init__(self):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.c2, self.b2 = nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(4, 10)

    def forward(self, x):
        h = torch.relu(self.b1(self.c1(x)))
        y = torch.relu(self.b2(self.c2(h)) + h)
        return self.fc(torch.flatten(self.pool(y), 1))


def test_a_residual_cnn_is_a_dag_with_the_skip_as_an_edge():
    torch.manual_seed(1)
    m = _Residual().eval()
    with torch.no_grad():  # non-trivial running statistics, so that BatchNorm matters
        for bn in (m.b1, m.b2):
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
    x = _x(30, 1, 8, 8)
    dag = read_module(m, x[:2])
    assert [(la.name, la.kind, la.n_units, la.inputs, la.activation) for la in dag.layers] == [
        ("input", "input", 64, (), "identity"),
        ("c1", "conv", 4, (0,), "relu"),
        ("c2", "conv", 4, (1,), "identity"),
        ("fc", "linear", 10, (1, 2), "identity"),
    ]
    assert dag.pairs == [(0, 1), (1, 2), (1, 3), (2, 3)] and not dag.is_chain()
    acts = dag.forward_layers(x)
    with torch.no_grad():  # ground truth, by hand
        h = torch.relu(m.b1(m.c1(x)))
        c2 = m.b2(m.c2(h))
        want = [x.reshape(30, -1), h.mean(dim=(2, 3)), c2.mean(dim=(2, 3)), m(x)]
    for got, w in zip(acts, want, strict=True):
        np.testing.assert_allclose(got, w.double().numpy(), rtol=1e-5, atol=1e-5)


class _Branches(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.out = nn.Linear(3, 2), nn.Linear(3, 5), nn.Linear(7, 2)

    def forward(self, x):
        return self.out(torch.cat([torch.sigmoid(self.a(x)), self.b(x)], dim=1))


def test_cat_feeds_the_next_layer_from_both_branches():
    dag = read_module(_Branches(), _x(2, 3))
    assert [(la.name, la.n_units, la.inputs, la.activation) for la in dag.layers] == [
        ("input", 3, (), "identity"), ("a", 2, (0,), "sigmoid"), ("b", 5, (0,), "identity"), ("out", 2, (1, 2), "identity"),
    ]


class _Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.k = nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, x):
        return torch.softmax(self.q(x) @ self.k(x).T, dim=1)


class _Recurrent(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(4, 3, batch_first=True)

    def forward(self, x):
        return self.rnn(x)[0][:, -1]


@pytest.mark.parametrize("model,example,needle", [
    (_Attention(), _x(2, 4), "node"),
    (_Recurrent(), _x(2, 5, 4), "lstm"),
])
@pytest.mark.filterwarnings("ignore:The tensor attributes self.rnn:UserWarning")  # torch.export on nn.LSTM, not ours
def test_what_is_not_feed_forward_is_named_in_one_line(model, example, needle):
    with pytest.raises(UnsupportedModelError) as err:
        read_module(model, example)
    msg = str(err.value)
    assert needle in msg and "\n" not in msg


def test_a_program_exported_for_one_batch_size_runs_any_number_of_samples(tmp_path):
    torch.manual_seed(2)
    m = nn.Sequential(nn.Conv1d(2, 3, 3), nn.ELU(), nn.Flatten(), nn.Linear(3 * 4, 2)).eval()
    torch.export.save(torch.export.export(m, (_x(4, 2, 6),)), tmp_path / "m.pt2")
    dag = read_module(torch.export.load(str(tmp_path / "m.pt2")), _x(4, 2, 6))
    x = _x(10, 2, 6)
    acts = dag.forward_layers(x)
    with torch.no_grad():
        np.testing.assert_allclose(acts[1], m[1](m[0](x)).mean(dim=2).double().numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(acts[2], m(x).double().numpy(), rtol=1e-5, atol=1e-6)
    assert [la.activation for la in dag.layers] == ["identity", "elu", "identity"]
    assert dag.batch is None  # its aten ops did not depend on the batch: run whole, the guard skipped

    class Baked(nn.Module):  # a reshape that bakes the export batch size into the graph
        def __init__(self):
            super().__init__()
            self.conv, self.fc = nn.Conv1d(2, 3, 3), nn.Linear(12, 2)

        def forward(self, v):
            return self.fc(torch.relu(self.conv(v)).reshape(4, 12))

    torch.manual_seed(3)
    b = Baked().eval()
    dag = read_module(torch.export.export(b, (_x(4, 2, 6),)), _x(4, 2, 6))
    acts = dag.forward_layers(x)
    with torch.no_grad():
        want = torch.cat([b(x[i:i + 4]) for i in (0, 4)] + [b(torch.cat([x[8:], x[8:9].expand(2, 2, 6)]))[:2]])
    np.testing.assert_allclose(acts[2], want.double().numpy(), rtol=1e-5, atol=1e-6)
    assert dag.batch == 4  # run in padded chunks of the exported size


def test_dag_path_sums_equal_the_enumeration_of_every_path():
    """A DAG with a skip from layer 1 to layer 3 and one from the input to the output: the
    topological-order product sums equal the sum over all simple paths of the edge products."""
    import networkx as nx

    from nifgraph.flowgraph import dag_path_sums

    rng = np.random.default_rng(3)
    sizes = [3, 4, 2, 3]
    flow = {(a, b): rng.uniform(0, 1, (sizes[a], sizes[b])) for a, b in [(0, 1), (1, 2), (2, 3), (1, 3), (0, 3)]}
    g = nx.DiGraph()
    for (a, b), m in flow.items():
        for i in range(sizes[a]):
            for j in range(sizes[b]):
                g.add_edge((a, i), (b, j), w=m[i, j])
    want = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            for path in nx.all_simple_paths(g, (0, i), (3, j)):
                want[i, j] += np.prod([g.edges[u, v]["w"] for u, v in zip(path, path[1:], strict=False)])
    np.testing.assert_allclose(dag_path_sums(sizes, flow), want, rtol=1e-12)
    chain = {(0, 1): flow[(0, 1)], (1, 2): flow[(1, 2)], (2, 3): flow[(2, 3)]}
    np.testing.assert_allclose(dag_path_sums(sizes, chain), flow[(0, 1)] @ flow[(1, 2)] @ flow[(2, 3)], rtol=1e-12)


def _chain_blocks(rng, sizes):
    return [rng.uniform(0, 1, (a, b)) * (rng.uniform(size=(a, b)) > 0.2) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]


def test_dag_analysis_of_a_chain_equals_the_chain_engine():
    from nifgraph.analysis import local
    from nifgraph.analysis.dag_flow import DagNif, analyze_dag

    rng = np.random.default_rng(4)
    sizes = (4, 6, 5, 3)
    mats = _chain_blocks(rng, sizes)
    mats[1][2, :] = 0.001  # a hidden unit that passes (almost) nothing on
    got = analyze_dag(DagNif(sizes, {(i, i + 1): m for i, m in enumerate(mats)}), gamma=1.0, seed=3)
    np.testing.assert_allclose(got.betweenness, local.betweenness(mats), atol=1e-9)
    membership, q = local.louvain(mats, resolution=1.0, seed=3)
    assert (got.community == membership).all() and got.modularity == pytest.approx(q)
    np.testing.assert_allclose(got.attribution, local.attribution(mats), rtol=1e-12)
    assert (got.prunable == local.prunable(mats)).all() and got.prunable.sum() == 1


def test_dag_betweenness_with_a_skip_matches_networkx():
    import networkx as nx

    from nifgraph.analysis.dag_flow import DagNif, analyze_dag, dag_edge_list

    rng = np.random.default_rng(5)
    sizes = (3, 4, 4, 2)
    blocks = {(a, b): rng.uniform(0.05, 1, (sizes[a], sizes[b])) for a, b in [(0, 1), (1, 2), (2, 3), (1, 3)]}
    nif = DagNif(sizes, blocks)
    src, dst, _, cost = dag_edge_list(nif)
    g = nx.DiGraph()
    g.add_nodes_from(range(sum(sizes)))
    g.add_weighted_edges_from(zip(src.tolist(), dst.tolist(), cost.tolist(), strict=True), weight="cost")
    want = nx.betweenness_centrality(g, weight="cost", normalized=False)
    np.testing.assert_allclose(analyze_dag(nif).betweenness, [want[i] for i in range(sum(sizes))], atol=1e-9)


class _DeadBlock(nn.Module):
    """h = relu(A x); z = B h with B = 0 (a residual branch that outputs a constant);
    out = C (z + h): everything reaches the classes through the skip."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(3, 4), nn.Linear(4, 4), nn.Linear(4, 2)
        with torch.no_grad():
            self.b.weight.zero_()

    def forward(self, x):
        h = torch.relu(self.a(x))
        return self.c(self.b(h) + h)


def test_a_residual_branch_that_outputs_a_constant_carries_nothing_and_is_prunable():
    from nifgraph.analysis.dag_flow import analyze_dag, estimate_dag

    torch.manual_seed(0)
    model = _DeadBlock().eval()
    x = _x(1500, 3)
    dag = read_module(model, x[:2])
    assert dag.pairs == [(0, 1), (1, 2), (1, 3), (2, 3)]
    nif = estimate_dag(dag, x.numpy(), estimator="gcmi")
    assert nif.blocks[(1, 2)].max() == 0 and nif.blocks[(2, 3)].max() == 0  # a constant has no information
    assert nif.blocks[(1, 3)].max() > 0.1  # the skip carries it
    a = analyze_dag(nif)
    assert a.prunable[7:11].all() and not a.prunable[:7].any() and not a.prunable[11:].any()
    assert (a.attribution > 0).all()  # every input reaches every class, through the skip


def test_removing_units_inside_the_graph_equals_the_chain_mean_fold():
    """On a chain, replacing units by their means inside the traced graph gives exactly the
    accuracy of nifgraph.network.pruned (mean folded into the next bias)."""
    from nifgraph.analysis.removal import unit_means
    from nifgraph.network import accuracy, pruned

    torch.manual_seed(3)
    m = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 6), nn.Tanh(), nn.Linear(6, 3)).eval()
    x = _x(400, 5).numpy()
    y = np.random.default_rng(0).integers(0, 3, 400)
    net, dag = from_module(m), read_module(m, x[:2])
    units = [(1, 0), (1, 5), (2, 3)]
    means = unit_means(net, x[:200])
    want = accuracy(pruned(net, units, means=means), x[200:], y[200:])
    assert dag.accuracy(x[200:], y[200:], units, dag.unit_means(x[:200])) == want
    assert dag.accuracy(x[200:], y[200:]) == accuracy(net, x[200:], y[200:])


def test_a_constant_residual_branch_is_recommended_for_removal_at_no_cost():
    from nifgraph.analysis.dag_flow import analyze_dag, estimate_dag
    from nifgraph.analysis.recommend import recommend

    torch.manual_seed(0)
    model = _DeadBlock().eval()
    x = _x(1500, 3).numpy()
    with torch.no_grad():
        y = model(torch.as_tensor(x)).argmax(1).numpy()  # labels the model gets right: accuracy 1
    dag = read_module(model, x[:2])
    a = analyze_dag(estimate_dag(dag, x, estimator="gcmi"))
    flagged = [(2, i) for i in range(4)]
    assert np.flatnonzero(a.prunable).tolist() == [7, 8, 9, 10]  # flat ids of layer 2's four units
    rec = recommend(dag, flagged, x[:1000], x[1000:], y[1000:], tolerance=0.0)
    assert rec.recommended == tuple(flagged) and rec.accuracy_after == rec.accuracy_before == 1.0


def test_a_dag_models_edges_must_join_a_layer_to_one_it_feeds():
    import pandas as pd

    from nifgraph.records import ModelRecord, bad_edges

    layers = [{"inputs": []}, {"inputs": [0]}, {"inputs": [1]}, {"inputs": [1, 2]}]
    model = ModelRecord(model_id="m", name="m", dataset="d", layer_sizes=(2, 2, 2, 2), activations=("relu",) * 3,
                        feature_names=("a", "b"), class_names=("x", "y"), test_accuracy=1.0, meta={"dag": {"layers": layers}})
    frame = pd.DataFrame({"src_layer": [0, 1, 1, 2, 0, 2, 3, -1], "dst_layer": [1, 2, 3, 3, 2, 1, 4, 0]})
    assert bad_edges(frame, model).tolist() == [False, False, False, False, True, True, True, True]
    chain = ModelRecord(**{**model.__dict__, "meta": {}})
    assert bad_edges(frame, chain).tolist() == [False, False, True, False, True, True, True, True]


def test_a_graph_that_constrains_the_batch_size_is_refused_in_one_line():
    """A program exported with a free batch size whose graph still only runs on some sizes
    (here: even ones, through a reshape to pairs of rows) is refused when read, naming the fix,
    instead of failing later on a data set of odd size."""
    from nifgraph.errors import UnsupportedModelError

    class Even(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 3), nn.Linear(3, 2)

        def forward(self, x):
            return self.b(torch.relu(self.a(x)).reshape(-1, 2, 3).reshape(-1, 3))

    ep = torch.export.export(Even().eval(), (torch.zeros(4, 4),), dynamic_shapes=({0: torch.export.Dim.AUTO},))
    with pytest.raises(UnsupportedModelError, match="fixes or constrains the batch size") as err:
        read_module(ep, torch.zeros(2, 4))
    assert "\n" not in str(err.value) and "x.flatten(1)" in str(err.value)

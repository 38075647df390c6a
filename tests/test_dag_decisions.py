"""Decisions on DAG models (issue #11): pruning curves with removal inside the traced graph,
class attributions routed over skip paths, the SHAP / IG baselines on the traced graph, and
the attribution in Cypher layer by layer -- each against ground truth (the hand-built
residual CNN, brute-force path enumeration, closed forms, the chain engine on chains)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from nifgraph.dag import read_module
from nifgraph.flowgraph import dag_path_sums

from .handbuilt import ResidualCNN, residual_cnn_inputs

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _hand_built(n=1200, seed=1):
    x = residual_cnn_inputs(n, seed=seed)
    model = ResidualCNN().eval()
    with torch.no_grad():
        y = model(torch.as_tensor(x).reshape(n, *ResidualCNN.INPUT_SHAPE)).argmax(1).numpy()
    return read_module(model, torch.as_tensor(x[:2]).reshape(2, *ResidualCNN.INPUT_SHAPE)), x, y


# -- pruning curves --------------------------------------------------------------------------
def test_pruning_curves_of_the_hand_built_cnn_remove_the_empty_channels_first_at_no_cost():
    from nifgraph.analysis.dag_flow import estimate_dag
    from nifgraph.analysis.pruning import DAG_PRUNE_METHODS, hidden_neurons, prune_curves

    dag, x, y = _hand_built()
    blocks = estimate_dag(dag, x, estimator="gcmi").blocks
    res = prune_curves(dag, blocks, x[600:], y[600:], seeds=2, reference=x[:600], flagged=sorted(ResidualCNN.PRUNABLE))
    assert set(res.accuracy) == set(DAG_PRUNE_METHODS) and res.n_hidden == 6
    for method in ("greedy_kl", "nif", "magnitude", "mi_output"):  # each order sees the three empty channels
        assert np.all(res.accuracy[method][:, 3] == 1.0), method
    assert res.accuracy_flagged == 1.0 and np.all(res.accuracy["random"][:, 6] == res.accuracy["greedy_kl"][:, 6])
    from nifgraph.analysis.importance import greedy_kl_order

    order, kl = greedy_kl_order(dag, x[:600])
    units = hidden_neurons(dag.layer_sizes)
    assert {units[i] for i in order[:3]} == ResidualCNN.PRUNABLE and np.all(kl[:3] < 1e-12)


def test_greedy_kl_on_a_chain_read_as_a_dag_equals_the_chains():
    """Removal inside the traced graph and the chain's mean fold give the same greedy order."""
    from nifgraph.analysis.importance import greedy_kl_order
    from nifgraph.network import from_module

    torch.manual_seed(2)
    m = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3)).eval()
    x = np.random.default_rng(0).standard_normal((300, 4)).astype(np.float32)
    got, kl_got = greedy_kl_order(read_module(m, x[:2]), x)
    want, kl_want = greedy_kl_order(from_module(m), x)
    assert got.tolist() == want.tolist()
    np.testing.assert_allclose(kl_got, kl_want, rtol=1e-4, atol=1e-9)


def test_dag_magnitude_is_the_incoming_weight_norm_and_std_wout_is_refused():
    from nifgraph.analysis.pruning import dag_magnitude_scores, prune_curves
    from nifgraph.errors import ValidationError

    dag, x, y = _hand_built(200)
    np.testing.assert_allclose(dag_magnitude_scores(dag), [1, 0, 1, 0, 0, 1])  # the filters set by hand
    with pytest.raises(ValidationError, match="std_wout needs one outgoing weight matrix"):
        prune_curves(dag, None, x, y, methods=("std_wout",))


# -- class attributions -----------------------------------------------------------------------
def _enumerated_routing(sizes, pairs, edges, decision, j):
    """F[i, j] by enumerating every unit path i -> class node (ground truth)."""
    into = {b: [p for p, (_, bb) in enumerate(pairs) if bb == b] for b in range(len(sizes))}
    tot_in = {b: sum(edges[p][j].sum(axis=0) for p in into[b]) for b in range(1, len(sizes))}
    share_out = decision[:, j] / decision[:, j].sum()
    last = len(sizes) - 1
    out = np.zeros(sizes[0])

    def walk(layer, unit, prod):
        if layer == last:
            return prod * share_out[unit]
        total = 0.0
        for p, (a, b) in enumerate(pairs):
            if a != layer:
                continue
            for k in range(sizes[b]):
                e = edges[p][j][unit, k]
                if e > 0:
                    total += walk(b, k, prod * e / tot_in[b][k])
        return total

    for i in range(sizes[0]):
        out[i] = walk(0, i, 1.0)
    return out


def test_routing_over_a_dag_equals_the_enumeration_of_every_path():
    from nifgraph.analysis.class_flow import routing_shares

    rng = np.random.default_rng(4)
    sizes, c = (3, 4, 2, 3), 3
    pairs = [(0, 1), (1, 2), (0, 2), (1, 3), (2, 3)]
    edges = [rng.uniform(0, 1, (c, sizes[a], sizes[b])) * (rng.uniform(size=(c, sizes[a], sizes[b])) > 0.2)
             for a, b in pairs]
    decision = rng.uniform(0.1, 1, (c, c))
    got = routing_shares(edges, decision, pairs)
    for j in range(c):
        np.testing.assert_allclose(got[:, j], _enumerated_routing(sizes, pairs, edges, decision, j), rtol=1e-10)
    np.testing.assert_allclose(got.sum(axis=0), 1.0)  # every class's unit of flow reaches the inputs
    chain = [(0, 1), (1, 2), (2, 3)]
    chain_edges = [edges[0], edges[1], rng.uniform(0, 1, (c, 2, 3))]
    np.testing.assert_allclose(routing_shares(chain_edges, decision), routing_shares(chain_edges, decision, chain))


def test_class_flow_of_the_hand_built_cnn_follows_the_skip_and_ignores_the_unread_channel():
    from nifgraph.analysis.class_flow import class_flow

    dag, x, _ = _hand_built()
    for method in ("flow", "flow_dpi"):
        cf = class_flow(dag, x, method=method)
        assert cf.values.shape == (12, 2) and np.all(cf.values <= cf.bound + 1e-12)
        read, unread = cf.values[:8], cf.values[8:]
        assert unread.max() < 0.05 * read.min(), method  # channel 2 reaches nothing (GCMI noise ~ 1/2N nats)
        assert len(cf.edges) == len(dag.pairs)
    # channel 0 decides through the stem and the skip alone (the block passes it on as a constant)
    flow = class_flow(dag, x, method="flow")
    assert flow.values[:4].sum() > 0.2 and np.isclose(flow.values.sum(axis=0), 1.0).all()


def test_gradient_shap_on_the_traced_graph_is_exact_on_a_linear_model():
    """f = W x + b: expected gradients with a single background row b0 give W (x - b0) exactly."""
    from nifgraph.analysis.attribution import gradient_shap_attribution, ig_attribution

    torch.manual_seed(0)
    lin = nn.Sequential(nn.Linear(5, 3)).eval()
    x = np.random.default_rng(1).standard_normal((40, 5)).astype(np.float32)
    bg = np.random.default_rng(2).standard_normal((1, 5)).astype(np.float32)
    module = read_module(lin, x[:2]).as_module()
    w = lin[0].weight.detach().double().numpy()  # (3, 5)
    want = np.abs(w[None, :, :] * (x - bg)[:, None, :]).mean(axis=0).T  # (5, 3)
    np.testing.assert_allclose(gradient_shap_attribution(module, bg, x, 3), want, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ig_attribution(module, x, 3), np.abs(w[None] * x[:, None, :]).mean(axis=0).T, rtol=1e-4)


# -- attribution in Cypher, layer by layer ----------------------------------------------------
class _CypherOnFrames:
    """Evaluates ``cypher/gds/dag_attribution_step.cypher`` and ``gds/attribution_step`` on an
    edge table, clause for clause: group the state by (layer, idx), match the kept NIF edges
    out of each into ``$layer``, unwind the state rows and sum ``score * value``."""

    def __init__(self, edges):
        self.edges = edges
        self.calls = []

    def query(self, name, **p):
        self.calls.append(name)
        e = self.edges[self.edges["value"] > 0]
        if p["alpha"] is not None:
            e = e[e["q_value"] <= p["alpha"]]
        if name == "gds/attribution_step":
            e = e[e["src_layer"] == p["layer"]]
        else:
            assert name == "gds/dag_attribution_step"
            e = e[e["dst_layer"] == p["layer"]]
        state = pd.DataFrame(p["state"])
        if name == "gds/attribution_step":
            state = state.assign(layer=p["layer"])
        j = state.merge(e, left_on=["layer", "idx"], right_on=["src_layer", "src_idx"])
        j = j.assign(score=j["score"] * j["value"]).groupby(["feature_idx", "dst_idx"], as_index=False)["score"].sum()
        return [{"feature_idx": r.feature_idx, "idx": r.dst_idx, "score": r.score} for r in j.itertuples()]


def _dag_edges(sizes, pairs, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for a, b in pairs:
        for i, k in itertools.product(range(sizes[a]), range(sizes[b])):
            v = float(rng.uniform(0, 1)) if rng.uniform() > 0.25 else 0.0
            rows.append(dict(src_layer=a, src_idx=i, dst_layer=b, dst_idx=k, value=v, q_value=float(rng.uniform())))
    return pd.DataFrame(rows)


@pytest.mark.parametrize("alpha", [None, 0.5])
def test_the_cypher_dag_attribution_equals_the_path_sums(alpha):
    from nifgraph.analysis.dag_flow import blocks_from_edges
    from nifgraph.analysis.gds import _attribution

    sizes, pairs = (3, 4, 3, 4, 2), [(0, 1), (1, 2), (1, 3), (2, 3), (0, 4), (3, 4), (1, 4)]
    edges = _dag_edges(sizes, pairs)
    inputs = [[a for a, b in pairs if b == layer] for layer in range(len(sizes))]
    fake = _CypherOnFrames(edges)
    got = _attribution(fake, "m", "r", alpha, sizes, inputs)
    kept = edges.assign(value=np.where(edges["q_value"] <= alpha, edges["value"], 0.0)) if alpha else edges
    np.testing.assert_allclose(got, dag_path_sums(sizes, blocks_from_edges(kept, sizes)), rtol=1e-12)
    assert fake.calls == ["gds/dag_attribution_step"] * (len(sizes) - 1)  # one statement per layer
    chain = _dag_edges((3, 4, 2), [(0, 1), (1, 2)], seed=1)
    np.testing.assert_allclose(_attribution(_CypherOnFrames(chain), "m", "r", None, (3, 4, 2)),
                               dag_path_sums((3, 4, 2), blocks_from_edges(chain, (3, 4, 2))), rtol=1e-12)


@pytest.mark.neo4j
def test_the_dag_attribution_runs_on_a_neo4j_server(neo, tmp_path):
    """The Cypher file itself, on the server: the hand-built CNN's stored run, layer by layer,
    equals the path sums the embedded engine stores."""
    from nifgraph.analysis.dag_flow import blocks_from_edges
    from nifgraph.analysis.gds import _attribution
    from nifgraph.pipeline import estimate_run
    from nifgraph.settings import EstimationSettings

    from .handbuilt import import_residual_cnn

    model = import_residual_cnn(neo, tmp_path, n=600)
    neo._test_created.append(model.model_id)
    run, _ = estimate_run(neo, model.model_id, EstimationSettings(estimator="gcmi"))
    sizes = tuple(model.layer_sizes)
    inputs = [list(la["inputs"]) for la in model.meta["dag"]["layers"]]
    got = _attribution(neo, model.model_id, run.run_id, None, sizes, inputs)
    np.testing.assert_allclose(got, dag_path_sums(sizes, blocks_from_edges(neo.get_edges(run.run_id), sizes)),
                               rtol=1e-9, atol=1e-12)


@pytest.mark.neo4j
@pytest.mark.gds
def test_the_gds_engine_on_a_dag_run_equals_the_local_dag_engine(neo, tmp_path):
    """Betweenness on the projection costed per (source, target) layer pair, communities, flows
    and the Cypher path sums, against the in-process DAG engine on the same stored run."""
    from nifgraph.analysis import compute
    from nifgraph.pipeline import estimate_run
    from nifgraph.settings import AnalysisSettings, EstimationSettings

    from .handbuilt import import_residual_cnn
    from .test_analysis_gds import GDS_SKIP

    if neo.gds_version()[0] is None:
        pytest.skip(GDS_SKIP)
    model = import_residual_cnn(neo, tmp_path, n=600)
    neo._test_created.append(model.model_id)
    run, _ = estimate_run(neo, model.model_id, EstimationSettings(estimator="gcmi"))
    g = compute(neo, run.run_id, AnalysisSettings(engine="gds"))
    loc = compute(neo, run.run_id, AnalysisSettings(engine="local")).analysis
    assert g.engine == "gds"
    np.testing.assert_allclose(g.analysis.betweenness, loc.betweenness, atol=1e-6)
    np.testing.assert_allclose(g.analysis.attribution, loc.attribution, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(g.analysis.in_flow, loc.in_flow, atol=1e-9)
    np.testing.assert_array_equal(g.analysis.prunable, loc.prunable)
    assert abs(g.analysis.modularity - loc.modularity) <= 0.02

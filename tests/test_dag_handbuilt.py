"""Must hold (issue #11): a hand-built residual CNN whose flow is known by construction
(:class:`tests.handbuilt.ResidualCNN`: input channel 0 copied through the skip path, a dead
stem channel, two constant block channels, an input channel nothing reads) gives the expected
edges, significance and prunable set on every store (DuckDB always; Neo4j when NEO4J_URI
is set) -- and the significance of a DAG run equals a chain's where the DAG is a chain.

GCMI, the seeded tie-breaking and the seeded null make every number here deterministic. Dead
and constant units' edges are never significant (p = 1 exactly, no estimate); the unread input
channel's edges are not, at these samples; among the other independent pairs (a pixel of one
channel against the stem channel of the other) BH allows false discoveries -- measured over 20
sample sets, 4.0 % of their p-values ≤ 0.05 and 0.75 % ≤ 0.01 (calibrated), 3 false
discoveries in 20 runs -- so at most one is accepted."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from nifgraph.analysis.dag_flow import estimate_dag
from nifgraph.dag import read_module
from nifgraph.nif import estimate_nif
from nifgraph.significance import SignificanceSpec

from .handbuilt import ResidualCNN, import_residual_cnn, residual_cnn_inputs

NULL = SignificanceSpec(null=True, bootstrap=4)
#: (src_layer, src_idx, dst_layer, dst_idx) of every edge that carries information, by construction:
#: the 4 pixels of input channel 0 into stem channel 0, the 4 of channel 1 into stem channel 2; stem 0
#: to logit 0 over the skip; stem 2 into block channel 2 and over the skip to logit 1; block 2 to logit 1.
INFORMATIVE = {(0, p, 1, 0) for p in range(4)} | {(0, p, 1, 2) for p in range(4, 8)} | {
    (1, 0, 3, 0), (1, 2, 2, 2), (1, 2, 3, 1), (2, 2, 3, 1)}
#: Edges that can carry nothing: from the unread input channel's pixels, into or out of the dead stem
#: channel 1 and the constant block channels 0 and 1.
EMPTY = {(0, p, 1, k) for p in range(8, 12) for k in range(3)} | {(0, p, 1, 1) for p in range(12)} | {
    (1, 1, b, k) for b in (2, 3) for k in range(3 if b == 2 else 2)} | {(1, i, 2, k) for i in range(3) for k in (0, 1)} | {
    (2, i, 3, k) for i in (0, 1) for k in range(2)}


def _check_decisions(significant: set, empty_p: dict) -> None:
    """Every informative edge significant, no empty edge, at most one false discovery (see above);
    empty edges of dead or constant units have p = 1 exactly."""
    assert INFORMATIVE <= significant
    assert not significant & EMPTY
    assert len(significant - INFORMATIVE) <= 1, significant - INFORMATIVE
    for edge, p in empty_p.items():
        if not (edge[0] == 0 and edge[1] >= 8):  # a dead or constant end (the unread pixels are estimated)
            assert p == 1.0, edge


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _dag():
    x = residual_cnn_inputs(1500, seed=1)  # the samples import_residual_cnn stores (at seed 0, one unread pixel is a false discovery)
    return read_module(ResidualCNN().eval(), torch.as_tensor(x[:2]).reshape(2, *ResidualCNN.INPUT_SHAPE)), x


def test_the_dag_of_the_hand_built_cnn_has_the_skip_as_an_edge():
    dag, _ = _dag()
    assert [(la.kind, la.n_units, la.inputs) for la in dag.layers] == [
        ("input", 12, ()), ("conv", 3, (0,)), ("conv", 3, (1,)), ("linear", 2, (1, 2))]
    assert dag.pairs == [(0, 1), (1, 2), (1, 3), (2, 3)]


def test_edges_and_significance_of_the_hand_built_cnn():
    dag, x = _dag()
    nif = estimate_dag(dag, x, estimator="gcmi", significance=NULL)
    q, p = nif.extras["q_value"], nif.extras["p_value"]
    floor = 1.0 / (1 + min(nif.significance["null_draws"]))
    edges = {(a, i, b, k): (float(p[(a, b)][i, k]), float(q[(a, b)][i, k]))
             for (a, b), m in nif.blocks.items() for i, k in np.ndindex(m.shape)}
    assert len(EMPTY) == 12 + 12 - 4 + 5 + 6 - 2 + 4 and EMPTY <= set(edges)
    _check_decisions({e for e, (_, qv) in edges.items() if qv <= 0.05}, {e: edges[e][0] for e in EMPTY})
    assert all(edges[e][0] <= floor + 1e-12 for e in INFORMATIVE)  # as far in the tail as the null can tell
    assert all(nif.blocks[(e[0], e[2])][e[1], e[3]] == 0.0 for e in EMPTY if edges[e][0] == 1.0)
    # a pixel against the mean of its channel's 4 i.i.d. pixels: -1/2 ln(1 - 1/4) nats (Gaussian, GCMI exact)
    pix = np.r_[nif.blocks[(0, 1)][:4, 0], nif.blocks[(0, 1)][4:8, 2]]
    assert np.abs(pix - ResidualCNN.PIXEL_MI).max() < 0.04
    # the half-sample interval holds the estimate of every informative pixel edge
    lo, hi = nif.extras["ci_low"][(0, 1)], nif.extras["ci_high"][(0, 1)]
    assert np.all(lo[:4, 0] <= nif.blocks[(0, 1)][:4, 0]) and np.all(nif.blocks[(0, 1)][:4, 0] <= hi[:4, 0])
    assert nif.significance["multiple_testing"].startswith("benjamini-hochberg")


def test_significance_of_a_chain_read_as_a_dag_equals_the_chains():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3), nn.ReLU(), nn.Linear(3, 2)).eval()
    x = np.random.default_rng(0).standard_normal((400, 4)).astype(np.float32)
    dag = read_module(m, x[:2])
    got = estimate_dag(dag, x, estimator="gcmi", significance=NULL, seed=3)
    want = estimate_nif(dag.forward_layers(x), estimator="gcmi", significance=NULL, seed=3)
    for k, pair in enumerate(dag.pairs):
        np.testing.assert_allclose(got.blocks[pair], want.values[k], atol=1e-12)
        for col in ("p_value", "q_value", "ci_low", "ci_high"):
            np.testing.assert_allclose(got.extras[col][pair], want.extras[col][k], atol=1e-12, err_msg=col)
    assert got.significance == want.significance


def test_the_unit_level_test_reads_the_skip():
    """A unit is tested against every layer feeding its own and every layer its own feeds:
    stem channel 0 reaches nothing but the head over the skip, and is informative."""
    from nifgraph.analysis.unit_information import unit_information

    dag, x = _dag()
    info = unit_information(dag.forward_layers(x), pairs=dag.pairs, seed=0)
    assert set(info.candidates) == ResidualCNN.PRUNABLE
    chain_view = unit_information(dag.forward_layers(x), seed=0)  # layer l against l - 1 and l + 1 only
    assert (1, 0) in chain_view.candidates  # blind to the skip: stem 0 looks empty towards the block


@pytest.mark.parametrize("alpha", [None, 1.0])
def test_the_hand_built_cnn_on_every_store(store, tmp_path, alpha):
    """Import, estimate with the null and intervals, analyse: stored edges, q-values and the
    verified prunable set (the dead and the constant channels, at no cost) on each store."""
    from nifgraph.pipeline import analyze_run, estimate_run
    from nifgraph.settings import AnalysisSettings, EstimationSettings

    model = import_residual_cnn(store, tmp_path)
    store._test_created.append(model.model_id)
    assert model.test_accuracy == 1.0 and model.is_dag
    run, _ = estimate_run(store, model.model_id, EstimationSettings(estimator="gcmi", significance=NULL))
    assert run.settings["significance"]["null"] and run.settings["significance"]["bootstrap"] == 4
    edges = store.get_edges(run.run_id)
    assert len(edges) == 12 * 3 + 3 * 3 + 3 * 2 + 3 * 2 and edges["q_value"].notna().all()
    key = list(zip(edges.src_layer, edges.src_idx, edges.dst_layer, edges.dst_idx, strict=True))
    p = dict(zip(key, edges["p_value"], strict=True))
    _check_decisions({e for e, qv in zip(key, edges["q_value"], strict=True) if qv <= 0.05}, {e: p[e] for e in EMPTY})
    assert (edges["ci_low"] <= edges["value"] + 1e-12).all() and (edges["value"] <= edges["ci_high"] + 1e-12).all()
    rec = analyze_run(store, run.run_id, AnalysisSettings(alpha=alpha))
    assert set(rec.prunable) == ResidualCNN.PRUNABLE
    assert rec.accuracy_after == rec.accuracy_before == 1.0
    pruning = rec.settings["pruning"]
    assert {tuple(u) for u in pruning["uninformative_units"]} == ResidualCNN.PRUNABLE
    assert rec.settings["alpha"] == (0.05 if alpha is None else None)

"""Ground-truth tests for analysis and store behaviour a mutation audit found unpinned:
Louvain's resolution against a brute-force optimum, the least-harm order of the greedy
pruning recommendation, the output side of the unit-level test, ``copy_models`` with
``force`` and with a changed analysis, and the DuckDB store's replace / delete paths."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from nifgraph.analysis import local as A
from nifgraph.analysis.recommend import recommend
from nifgraph.analysis.unit_information import unit_information
from nifgraph.network import from_module
from nifgraph.records import ATTRIBUTION_COLUMNS
from nifgraph.store.copy import copy_models
from nifgraph.store.duckdb import DuckDBStore

from .store_fixtures import make_analysis, make_model, make_run, put_analysed_run, store_analysed


# -- Louvain honours the resolution (brute force over every partition) -------------------
def _set_partitions(n: int):
    """Every set partition of range(n) as a label tuple (restricted growth strings)."""
    labels: list[int] = []

    def rec(i: int, k: int):
        if i == n:
            yield tuple(labels)
            return
        for c in range(k + 1):
            labels.append(c)
            yield from rec(i + 1, max(k, c + 1))
            labels.pop()

    yield from rec(0, 0)


def _adjacency(mats: list[np.ndarray]) -> np.ndarray:
    sizes = [mats[0].shape[0]] + [m.shape[1] for m in mats]
    off = np.concatenate([[0], np.cumsum(sizes)])
    w = np.zeros((off[-1], off[-1]))
    for layer, m in enumerate(mats):
        w[off[layer] : off[layer + 1], off[layer + 1] : off[layer + 2]] = m
    return w + w.T


def _modularity(w: np.ndarray, labels, gamma: float) -> float:
    """Generalised (Reichardt-Bornholdt) modularity as igraph defines it, weighted, undirected:
    Q = 1/(2m) sum_ij (A_ij - gamma k_i k_j / (2m)) [c_i == c_j]."""
    k = w.sum(axis=1)
    two_m = w.sum()
    lab = np.asarray(labels)
    same = lab[:, None] == lab[None, :]
    return float(((w - gamma * np.outer(k, k) / two_m) * same).sum() / two_m)


def _brute_force(w: np.ndarray, gamma: float) -> tuple[float, tuple[int, ...]]:
    return max((_modularity(w, p, gamma), p) for p in _set_partitions(w.shape[0]))


# a 3-2-2 flow graph (7 nodes, 877 partitions) whose optimal partition has 1, 2 and 5
# communities at gamma = 0.3, 1 and 3 (found by the brute force below, unique optimum each)
_LOUVAIN_MATS = [
    np.array([[0.76, 0.08], [0.36, 0.60], [0.51, 0.84]]),
    np.array([[0.74, 0.84], [0.00, 0.19]]),
]


@pytest.mark.parametrize("seed", [0, 1])
def test_louvain_reaches_the_brute_force_optimum_at_each_resolution(seed):
    w = _adjacency(_LOUVAIN_MATS)
    counts = []
    for gamma in (0.3, 1.0, 3.0):
        q_best, p_best = _brute_force(w, gamma)
        membership, q = A.louvain(_LOUVAIN_MATS, resolution=gamma, seed=seed)
        # the returned q is the modularity of the returned partition at this gamma ...
        assert q == pytest.approx(_modularity(w, membership, gamma), abs=1e-12)
        # ... and it is the best any partition reaches at this gamma
        assert q == pytest.approx(q_best, abs=1e-9), gamma
        assert tuple(A.relabel(p_best)) == tuple(membership)
        counts.append(len(set(membership.tolist())))
    assert counts == [1, 2, 5]


def test_louvain_tiny_resolution_gives_one_community_large_gives_singletons():
    w = _adjacency(_LOUVAIN_MATS)
    n = w.shape[0]
    membership, q = A.louvain(_LOUVAIN_MATS, resolution=1e-3)
    assert membership.tolist() == [0] * n  # connected graph: any cut loses intra-community weight
    assert q == pytest.approx(1.0 - 1e-3, abs=1e-12)  # one community: Q = 1 - gamma
    membership, q = A.louvain(_LOUVAIN_MATS, resolution=100.0)
    assert membership.tolist() == list(range(n))
    k = w.sum(axis=1)
    assert q == pytest.approx(-100.0 * float(np.sum((k / w.sum()) ** 2)), rel=1e-12)


# -- recommend: least harm first ---------------------------------------------------------
def _two_unit_net():
    """2 → 2 ReLU → 2: h0 = x0 + 10, h1 = x1 + 10 (the shift keeps the ReLU linear);
    logit0 = 0, logit1 = (h0 - 10) + (h1 - 10) + 0.1 = x0 + x1 + 0.1."""
    lin1, lin2 = nn.Linear(2, 2), nn.Linear(2, 2)
    with torch.no_grad():
        lin1.weight.copy_(torch.eye(2))
        lin1.bias.copy_(torch.tensor([10.0, 10.0]))
        lin2.weight.copy_(torch.tensor([[0.0, 0.0], [1.0, 1.0]]))
        lin2.bias.copy_(torch.tensor([0.0, -19.9]))
    return from_module(nn.Sequential(lin1, nn.ReLU(), lin2).eval())


def _two_unit_data():
    """Reference inputs whose unit means are exactly 10 (x0, x1 mean 0), and 1000 held-out
    samples labelled by the intact network, built so that (x0 + x1 + 0.1 is the margin):

    * 4 samples (-2, 1): removing A = h0 (x0 -> 0) flips them, removing B = h1 does not;
    * 6 samples (-1, -1): only removing both (margin 0.1 > 0) flips them;
    * 990 samples (1, 1): never flip.

    So drop(A) = 0.004, drop(B) = 0, drop(A and B) = 0.010."""
    x_ref = np.array([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]], dtype=np.float32)
    x_val = np.array([[-2.0, 1.0]] * 4 + [[-1.0, -1.0]] * 6 + [[1.0, 1.0]] * 990, dtype=np.float32)
    y_val = np.array([0] * 10 + [1] * 990)
    return x_ref, x_val, y_val


@pytest.mark.parametrize("order", [[(1, 0), (1, 1)], [(1, 1), (1, 0)]])
def test_recommend_adds_the_least_harmful_candidate_first(order):
    net = _two_unit_net()
    x_ref, x_val, y_val = _two_unit_data()
    a, b = (1, 0), (1, 1)
    rec = recommend(net, order, x_ref, x_val, y_val, tolerance=0.005)
    assert rec.accuracy_before == 1.0
    assert rec.drops[a] == pytest.approx(0.004, abs=1e-12) and rec.drops[b] == 0.0
    # B (no harm alone) goes first; A alone would fit the tolerance, but not on top of B
    assert rec.recommended == (b,)
    assert [r.unit for r in rec.rejected] == [a]
    assert rec.rejected[0].drop_alone == pytest.approx(0.004, abs=1e-12)
    assert rec.rejected[0].drop_with_set == pytest.approx(0.010, abs=1e-12)
    assert rec.accuracy_after == 1.0


# -- unit-level test: the out side reads the layer the unit feeds ------------------------
def test_unit_level_out_side_reads_the_next_layer():
    """x0, x1, x2 independent N(0, 1); hidden h0 = x0 + 10 (zero outgoing weights),
    h1 = x1 + 10, h2 = x2 + 10; one logit y = (h1 - 10) + (h2 - 10) = x1 + x2.
    Then I(h0; y) = 0 while I(x; h0) is that of a copy, and I(h1; y) = -1/2 ln(1 - rho^2)
    with rho^2 = corr(x1, x1 + x2)^2 = 1/2: 1/2 ln 2 (Gaussian, so the copula MI is exact)."""
    lin1, lin2 = nn.Linear(3, 3), nn.Linear(3, 1)
    with torch.no_grad():
        lin1.weight.copy_(torch.eye(3))
        lin1.bias.copy_(torch.tensor([10.0, 10.0, 10.0]))
        lin2.weight.copy_(torch.tensor([[0.0, 1.0, 1.0]]))
        lin2.bias.copy_(torch.tensor([-20.0]))
    net = from_module(nn.Sequential(lin1, nn.ReLU(), lin2).eval())
    x = np.random.default_rng(7).standard_normal((3000, 3)).astype(np.float32)
    acts = net.forward_layers(x)
    assert np.allclose(acts[2][:, 0], x[:, 1] + x[:, 2], atol=1e-5)  # the network is what it says
    ui = unit_information(acts, null_draws=500, seed=0)
    assert ui.units == ((1, 0), (1, 1), (1, 2))
    assert ui.mi_out[0] < 0.01  # h0 is not read by the next layer
    assert ui.mi_in[0] > 3.0  # ... but copies x0
    assert ui.mi_out[1] == pytest.approx(0.5 * np.log(2.0), abs=0.03)
    assert ui.mi_out[2] == pytest.approx(0.5 * np.log(2.0), abs=0.03)
    assert ui.candidates == ((1, 0),)


# -- copy_models: force, and a changed analysis ------------------------------------------
def _edges_sorted(store, run_id):
    e = store.get_edges(run_id)
    return e.sort_values(["src_layer", "src_idx", "dst_layer", "dst_idx"]).reset_index(drop=True)


def _attr_sorted(analysis):
    return (analysis.attribution[list(ATTRIBUTION_COLUMNS)]
            .sort_values(["feature_idx", "class_idx"]).reset_index(drop=True))


def test_copy_skips_an_existing_run_unless_forced(tmp_path):
    with DuckDBStore(str(tmp_path / "src.duckdb")) as src, DuckDBStore(str(tmp_path / "dst.duckdb")) as dst:
        model, run = store_analysed(src)
        # the target already holds the same run id with other edges (another estimate)
        dst.put_model(model, src.get_neurons(model.model_id))
        _, other = make_run(model, seed=5)
        dst.put_run(run, other.assign(run_id=run.run_id))
        stale = _edges_sorted(dst, run.run_id)
        assert not np.allclose(stale["value"], _edges_sorted(src, run.run_id)["value"])

        s = copy_models(src, dst, [model.model_id])
        assert (s.runs_copied, s.runs_skipped) == (0, 1)
        pd.testing.assert_frame_equal(_edges_sorted(dst, run.run_id), stale)

        s = copy_models(src, dst, [model.model_id], force=True)
        assert (s.runs_copied, s.runs_skipped) == (1, 0) and s.analyses_copied == 1
        pd.testing.assert_frame_equal(_edges_sorted(dst, run.run_id), _edges_sorted(src, run.run_id))
        assert dst.get_analysis(run.run_id) == src.get_analysis(run.run_id)


def test_copy_replaces_a_differing_analysis_without_force(tmp_path):
    with DuckDBStore(str(tmp_path / "src.duckdb")) as src, DuckDBStore(str(tmp_path / "dst.duckdb")) as dst:
        model, run = store_analysed(src)
        s = copy_models(src, dst, [model.model_id])
        assert (s.runs_copied, s.analyses_copied) == (1, 1)
        s = copy_models(src, dst, [model.model_id])  # nothing changed: nothing copied
        assert (s.runs_copied, s.runs_skipped, s.analyses_copied) == (0, 1, 0)

        base = make_analysis(model, run)
        # 1. a different gamma / modularity (the record compares unequal)
        a2 = replace(base, gamma=2.0, modularity=0.5, created_at="2031-01-01T00:00:00+00:00",
                     attribution=base.attribution.assign(value=base.attribution["value"] * 10.0))
        src.put_analysis(a2)
        s = copy_models(src, dst, [model.model_id])
        assert (s.runs_skipped, s.analyses_copied) == (1, 1)
        got = dst.get_analysis(run.run_id)
        assert got == a2 and got.gamma == 2.0 and got.created_at == a2.created_at
        pd.testing.assert_frame_equal(_attr_sorted(got), _attr_sorted(a2), check_dtype=False)

        # 2. equal scalar fields, only a newer analysis (created_at) with other attribution values
        a3 = replace(a2, created_at="2032-01-01T00:00:00+00:00",
                     attribution=base.attribution.assign(value=-base.attribution["value"]))
        assert a3 == a2
        src.put_analysis(a3)
        s = copy_models(src, dst, [model.model_id])
        assert s.analyses_copied == 1
        got = dst.get_analysis(run.run_id)
        assert got.created_at == a3.created_at
        pd.testing.assert_frame_equal(_attr_sorted(got), _attr_sorted(a3), check_dtype=False)


# -- DuckDB store: replace and delete leave nothing behind -------------------------------
def test_put_analysis_replaces_the_attribution_rows(store):
    model, run, a1 = put_analysed_run(store)
    a2 = replace(a1, gamma=2.0, attribution=a1.attribution.assign(value=100.0 + a1.attribution["value"] * 3.0))
    store.put_analysis(a2)
    got = store.get_analysis(run.run_id)
    n_features, n_classes = model.layer_sizes[0], model.layer_sizes[-1]
    assert len(got.attribution) == n_features * n_classes
    pd.testing.assert_frame_equal(_attr_sorted(got), _attr_sorted(a2), check_dtype=False)
    assert len(got.neuron_metrics) == sum(model.layer_sizes)


def test_rewriting_a_run_keeps_its_place_in_list_runs(tmp_path):
    with DuckDBStore(str(tmp_path / "s.duckdb")) as st:
        model, neurons = make_model()
        st.put_model(model, neurons)
        stamp = "2030-01-01T00:00:00+00:00"  # same creation time: the write order decides
        r1, e1 = make_run(model, seed=1)
        r2, e2 = make_run(model, seed=2)
        r1, r2 = replace(r1, created_at=stamp), replace(r2, created_at=stamp)
        st.put_run(r1, e1)
        st.put_run(r2, e2)
        before = [r.run_id for r in st.list_runs(model.model_id)]
        assert before == [r1.run_id, r2.run_id]
        st.put_run(r1, e1)  # re-written: same run, same place
        assert [r.run_id for r in st.list_runs(model.model_id)] == before
        assert [r.run_id for r in st.list_runs()] == before


def test_delete_model_leaves_no_rows_of_its_runs(tmp_path):
    import duckdb

    path = str(tmp_path / "s.duckdb")
    with DuckDBStore(path) as st:
        model, run = store_analysed(st)
        keep_model, keep_run = store_analysed(st)  # another model, untouched
        st.delete_model(model.model_id)
    con = duckdb.connect(path, read_only=True)
    try:
        for table in ("runs", "edges", "analyses", "neuron_metrics", "attribution"):
            n = con.execute(f"SELECT count(*) FROM {table} WHERE run_id = ?", [run.run_id]).fetchone()[0]  # noqa: S608
            kept = con.execute(f"SELECT count(*) FROM {table} WHERE run_id = ?", [keep_run.run_id]).fetchone()[0]  # noqa: S608
            assert n == 0, table
            assert kept > 0, table
        for table in ("models", "neurons"):
            n = con.execute(f"SELECT count(*) FROM {table} WHERE model_id = ?", [model.model_id]).fetchone()[0]  # noqa: S608
            assert n == 0, table
    finally:
        con.close()

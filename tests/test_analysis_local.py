"""nifgraph.analysis.local against brute force and networkx (the ground truth)."""

from __future__ import annotations

import itertools
import math
import random

import networkx as nx
import numpy as np
import pytest

from nifgraph.analysis import local as A
from nifgraph.errors import ValidationError
from nifgraph.records import ATTRIBUTION_COLUMNS, NEURON_METRIC_COLUMNS

SHAPES = [(3, 4, 2), (2, 3, 3, 2), (4, 2), (3, 5, 1, 4), (2, 4, 3, 3, 2)]


def random_mats(sizes, rng, zero_frac=0.3):
    """Random NIF matrices with about ``zero_frac`` of the edges exactly zero."""
    mats = []
    for a, b in itertools.pairwise(sizes):
        m = rng.random((a, b))
        m[rng.random((a, b)) < zero_frac] = 0.0
        mats.append(m)
    return mats


def all_paths(sizes):
    """Every input -> output path as a tuple of per-layer indices."""
    return itertools.product(*(range(n) for n in sizes))


def path_product(mats, path):
    return math.prod(float(m[path[li], path[li + 1]]) for li, m in enumerate(mats))


def cost_digraph(mats):
    src, dst, value, value_norm, cost = A.edge_list(mats)
    g = nx.DiGraph()
    g.add_nodes_from(range(int(A.layer_offsets(A.sizes_of(mats))[-1])))
    for s, d, v, c in zip(src, dst, value, cost, strict=True):
        g.add_edge(int(s), int(d), cost=float(c), value=float(v))
    return g


def value_graph(mats):
    src, dst, value, value_norm, _ = A.edge_list(mats)
    g = nx.Graph()
    g.add_nodes_from(range(int(A.layer_offsets(A.sizes_of(mats))[-1])))
    for s, d, v in zip(src, dst, value, strict=True):
        g.add_edge(int(s), int(d), weight=float(v))
    return g


# -- layout and edges ------------------------------------------------------------------
def test_offsets_and_sizes():
    np.testing.assert_array_equal(A.layer_offsets([3, 4, 2]), [0, 3, 7, 9])
    rng = np.random.default_rng(1)
    for sizes in SHAPES:
        assert A.sizes_of(random_mats(sizes, rng)) == sizes


@pytest.mark.parametrize(
    "mats, fragment",
    [
        ([np.ones((2, 3)), np.ones((2, 2))], "do not chain"),
        ([np.array([[0.1, -0.2]])], "negative"),
        ([np.array([[0.1, np.nan]])], "NaN"),
        ([np.array([[0.1, np.inf]])], "NaN or infinite"),
        ([np.ones(3)], "2-D"),
        ([], "non-empty"),
    ],
)
def test_validation_errors(mats, fragment):
    with pytest.raises(ValidationError, match=fragment) as info:
        A.sizes_of(mats)
    assert "\n" not in str(info.value)
    with pytest.raises(ValidationError):
        A.analyze(mats)


def test_normalize_and_cost_transform():
    norm = A.normalize_per_layer([np.array([[2.0, 1.0], [0.0, 0.5]]), np.zeros((2, 1))])
    np.testing.assert_allclose(norm[0], [[1.0, 0.5], [0.0, 0.25]])
    np.testing.assert_array_equal(norm[1], np.zeros((2, 1)))
    cost = A.cost_transform(np.array([1.0, 0.5, 0.0, -1.0]))
    assert cost[0] == 0.0 and not np.signbit(cost[0])
    assert cost[1] == pytest.approx(math.log(2))
    assert np.isnan(cost[2:]).all()


def test_edge_list_flat_ids_and_zero_handling():
    rng = np.random.default_rng(2)
    sizes = (3, 4, 2)
    mats = random_mats(sizes, rng)
    off = A.layer_offsets(sizes)
    src, dst, value, value_norm, cost = A.edge_list(mats)
    assert len(src) == sum(int((m > 0).sum()) for m in mats)
    for s, d, v in zip(src, dst, value, strict=True):
        layer = int(np.searchsorted(off, s, side="right") - 1)
        assert off[layer + 1] <= d < off[layer + 2]
        assert mats[layer][s - off[layer], d - off[layer + 1]] == v
    np.testing.assert_allclose(cost, -np.log(value_norm))
    full = A.edge_list(mats, drop_zero=False)
    assert len(full[0]) == 3 * 4 + 4 * 2
    assert np.isnan(full[4][full[2] == 0]).all()


# -- attribution -------------------------------------------------------------------------
@pytest.mark.parametrize("sizes", SHAPES)
def test_attribution_equals_sum_over_all_paths(sizes):
    rng = np.random.default_rng(sum(sizes))
    mats = random_mats(sizes, rng)
    want = np.zeros((sizes[0], sizes[-1]))
    for path in all_paths(sizes):
        want[path[0], path[-1]] += path_product(mats, path)
    np.testing.assert_allclose(A.attribution(mats), want, rtol=1e-12, atol=1e-15)
    norm = A.normalize_per_layer(mats)
    want_norm = np.zeros_like(want)
    for path in all_paths(sizes):
        want_norm[path[0], path[-1]] += path_product(norm, path)
    np.testing.assert_allclose(A.attribution(mats, normalized=True), want_norm, rtol=1e-12)


# -- betweenness -------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
def test_betweenness_equals_networkx(seed):
    rng = np.random.default_rng(100 + seed)
    sizes = SHAPES[seed % len(SHAPES)]
    mats = random_mats(sizes, rng, zero_frac=0.25)
    want = nx.betweenness_centrality(cost_digraph(mats), weight="cost", normalized=False)
    got = A.betweenness(mats)
    np.testing.assert_allclose(got, [want[i] for i in range(len(got))], rtol=0, atol=1e-9)


def test_betweenness_with_ties_and_empty_graph():
    # every path equally strong: all costs 0 (networkx) vs 1 (igraph) -- same counts
    mats = [np.ones((2, 3)), np.ones((3, 2))]
    want = nx.betweenness_centrality(cost_digraph(mats), weight="cost", normalized=False)
    np.testing.assert_allclose(A.betweenness(mats), [want[i] for i in range(7)], atol=1e-9)
    np.testing.assert_array_equal(A.betweenness([np.zeros((2, 3)), np.zeros((3, 2))]), 0.0)


@pytest.mark.parametrize("sizes", SHAPES)
def test_shortest_cost_path_is_max_product_path(sizes):
    rng = np.random.default_rng(7 + len(sizes))
    mats = random_mats(sizes, rng, zero_frac=0.2)
    g = cost_digraph(mats)
    off = A.layer_offsets(sizes)
    for i, c in itertools.product(range(sizes[0]), range(sizes[-1])):
        prods = {p: path_product(mats, p) for p in all_paths(sizes) if p[0] == i and p[-1] == c}
        best = max(prods, key=prods.get)
        if prods[best] == 0:
            assert not nx.has_path(g, int(off[0] + i), int(off[-2] + c))
            continue
        got = nx.shortest_path(g, int(off[0] + i), int(off[-2] + c), weight="cost")
        assert [n - off[li] for li, n in enumerate(got)] == list(best)


# -- Louvain -----------------------------------------------------------------------------
@pytest.mark.parametrize("gamma", [1.0, 2.0])
@pytest.mark.parametrize("seed", range(3))
def test_louvain_modularity_equals_networkx(gamma, seed):
    rng = np.random.default_rng(200 + seed)
    mats = random_mats((4, 6, 5, 3), rng)
    membership, q = A.louvain(mats, resolution=gamma, seed=seed)
    assert sorted(set(membership.tolist())) == list(range(membership.max() + 1))
    first = [membership.tolist().index(c) for c in range(membership.max() + 1)]
    assert first == sorted(first)  # labelled in order of first appearance
    comms = [set(np.flatnonzero(membership == c).tolist()) for c in range(membership.max() + 1)]
    want = nx.community.modularity(value_graph(mats), comms, weight="weight", resolution=gamma)
    assert q == pytest.approx(want, abs=1e-12)


def test_louvain_is_seeded_and_restores_global_random():
    rng = np.random.default_rng(5)
    mats = random_mats((6, 10, 8, 4), rng)
    random.seed(123)
    state = random.getstate()
    a = A.louvain(mats, seed=3)
    assert random.getstate() == state
    b = A.louvain(mats, seed=3)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1] == b[1]


def test_louvain_finds_planted_blocks_and_isolates():
    # two disconnected blocks, plus one hidden neuron with no edge at all
    m0, m1 = np.zeros((4, 5)), np.zeros((5, 4))
    m0[:2, :2] = m1[:2, :2] = 1.0
    m0[2:, 2:4] = m1[2:4, 2:] = 0.5
    membership, q = A.louvain([m0, m1], seed=0)
    block = np.array([0, 0, 1, 1, 0, 0, 1, 1, 2, 0, 0, 1, 1])
    np.testing.assert_array_equal(membership, block)
    # weights 8 and 4 of 12: Q = 1 - (8/12)^2 - (4/12)^2
    assert q == pytest.approx(4 / 9, abs=1e-12)
    # random strengths inside two dense blocks: still exactly the two blocks
    for seed in range(5):
        rng = np.random.default_rng(seed)
        m0, m1 = np.zeros((6, 8)), np.zeros((8, 6))
        m0[:3, :4], m0[3:, 4:] = rng.uniform(0.3, 1, (2, 3, 4))
        m1[:4, :3], m1[4:, 3:] = rng.uniform(0.3, 1, (2, 4, 3))
        membership, _ = A.louvain([m0, m1], seed=seed)
        np.testing.assert_array_equal(membership, np.repeat([0, 1, 0, 1, 0, 1], [3, 3, 4, 4, 3, 3]))
    # no edge at all: everyone alone, modularity undefined
    alone, q0 = A.louvain([np.zeros((2, 2)), np.zeros((2, 1))])
    np.testing.assert_array_equal(alone, np.arange(5))
    assert math.isnan(q0)
    with pytest.raises(ValidationError, match="resolution"):
        A.louvain([m0, m1], resolution=0)


# -- flows and pruning -------------------------------------------------------------------
def test_flows_match_loops():
    rng = np.random.default_rng(9)
    sizes = (3, 4, 2)
    mats = random_mats(sizes, rng)
    in_flow, out_flow, max_in, max_out = A.flows(mats)
    off = A.layer_offsets(sizes)
    for li, m in enumerate(mats):
        for i, k in itertools.product(range(m.shape[0]), range(m.shape[1])):
            assert max_out[off[li] + i] >= m[i, k] and max_in[off[li + 1] + k] >= m[i, k]
        np.testing.assert_allclose(out_flow[off[li] : off[li + 1]], m.sum(1))
        np.testing.assert_allclose(in_flow[off[li + 1] : off[li + 2]], m.sum(0))
    assert (in_flow[: sizes[0]] == 0).all() and (out_flow[-sizes[-1] :] == 0).all()


def test_prunable_rule():
    # sizes (2, 5, 2); hidden 0 dead, 1 no in-flow, 2 no out-flow, 3 normal,
    # 4 in-flow only at the threshold (0.02) -> prunable
    m0 = np.full((2, 5), 0.3)
    m1 = np.full((5, 2), 0.3)
    m0[:, 1] = 0.0
    m1[2, :] = [0.01, 0.0]
    m0[:, 4] = [0.02, 0.005]
    dead = np.zeros(9, dtype=bool)
    dead[2] = True  # hidden neuron 0
    got = A.prunable([m0, m1], dead)
    np.testing.assert_array_equal(got, [False, False, True, True, True, False, True, False, False])
    # just above the threshold on one incoming edge: information passes
    m0[0, 4] = 0.021
    assert not A.prunable([m0, m1], dead)[6]
    # inputs and classes are never prunable, even when silent or dead
    silent = [np.zeros((2, 2)), np.zeros((2, 2))]
    assert A.prunable(silent, np.ones(6, dtype=bool)).tolist() == [
        False,
        False,
        True,
        True,
        False,
        False,
    ]
    with pytest.raises(ValidationError, match="shape"):
        A.prunable([m0, m1], np.zeros(3, dtype=bool))


# -- strongest paths ---------------------------------------------------------------------
@pytest.mark.parametrize("sizes", SHAPES)
@pytest.mark.parametrize("top", [1, 3, 7])
def test_path_strengths_match_brute_force(sizes, top):
    rng = np.random.default_rng(300 + top + len(sizes))
    mats = random_mats(sizes, rng, zero_frac=0.3)
    for i, c in itertools.product(range(sizes[0]), range(sizes[-1])):
        brute = sorted(
            (
                (list(p), path_product(mats, p))
                for p in all_paths(sizes)
                if p[0] == i and p[-1] == c
            ),
            key=lambda t: -t[1],
        )
        brute = [t for t in brute if t[1] > 0][:top]
        got = A.path_strengths(mats, i, c, top=top)
        assert [p for p, _ in got] == [p for p, _ in brute]
        np.testing.assert_allclose([v for _, v in got], [v for _, v in brute], rtol=1e-12)
    with pytest.raises(ValidationError):
        A.path_strengths(mats, sizes[0], 0)


# -- everything at once ------------------------------------------------------------------
def test_analyze_frames_and_consistency():
    rng = np.random.default_rng(11)
    sizes = (3, 4, 3, 2)
    mats = random_mats(sizes, rng)
    res = A.analyze(mats, gamma=1.5, threshold=0.05, seed=4)
    m = res.metrics_frame(sizes)
    assert list(m.columns) == list(NEURON_METRIC_COLUMNS)
    assert {c: str(t) for c, t in m.dtypes.items()} == NEURON_METRIC_COLUMNS
    assert m[["layer", "idx"]].values.tolist() == [
        [li, i] for li, n in enumerate(sizes) for i in range(n)
    ]
    np.testing.assert_array_equal(m["betweenness"], A.betweenness(mats))
    np.testing.assert_array_equal(m["community"], A.louvain(mats, resolution=1.5, seed=4)[0])
    assert res.n_communities == m["community"].nunique()
    a = res.attribution_frame()
    assert list(a.columns) == list(ATTRIBUTION_COLUMNS)
    assert {c: str(t) for c, t in a.dtypes.items()} == ATTRIBUTION_COLUMNS
    np.testing.assert_allclose(
        a.pivot(index="feature_idx", columns="class_idx", values="value").values,
        A.attribution(mats),
    )
    assert res.gamma == 1.5 and res.threshold == 0.05 and res.seed == 4
    with pytest.raises(ValueError):
        res.betweenness[0] = 1.0  # results are read-only
    with pytest.raises(ValidationError, match="sizes"):
        res.metrics_frame((3, 4))


def test_all_zero_network_is_handled():
    mats = [np.zeros((3, 4)), np.zeros((4, 2))]
    res = A.analyze(mats, gamma=np.int64(2), threshold=np.float32(0.1))
    np.testing.assert_array_equal(res.membership, np.arange(9))
    assert math.isnan(res.modularity) and res.n_communities == 9
    assert not res.betweenness.any() and not res.attribution.any()
    np.testing.assert_array_equal(res.prunable, [False] * 3 + [True] * 4 + [False] * 2)
    assert A.path_strengths(mats, 0, 0) == []

"""Figures of big DAG models, tested on the figure objects (not pixels): layers of more than 64
units are one aggregated node carrying the mean NIF of their unit pairs, skip edges are curves
routed above the layers they bypass, the labels name the layers and their unit counts, and
the interactive HTML keeps every unit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nifgraph.records import EDGE_COLUMNS, NEURON_METRIC_COLUMNS, conform
from nifgraph.render import figures as P
from nifgraph.render.graph import prepare

# input (64 pixels) → conv_a (100) → conv_b (8) → conv_c (100) → head (10), with skips
# conv_a → conv_c (over conv_b) and conv_a → head (over conv_b and conv_c)
SIZES = (64, 100, 8, 100, 10)
NAMES = ("input", "conv_a", "conv_b", "conv_c", "head")
PAIRS = ((0, 1), (1, 2), (2, 3), (1, 3), (3, 4), (1, 4))


@pytest.fixture(scope="module")
def dag_run():
    rng = np.random.default_rng(0)
    blocks = {p: rng.random((SIZES[p[0]], SIZES[p[1]])) ** 2 for p in PAIRS}
    blocks[(1, 3)][:5, :] = 0.0  # zero edges count in the block's mean
    parts = []
    for (a, b), m in blocks.items():
        ii, kk = np.meshgrid(np.arange(m.shape[0]), np.arange(m.shape[1]), indexing="ij")
        parts.append(pd.DataFrame({"run_id": "r", "src_layer": a, "src_idx": ii.ravel(), "dst_layer": b,
                                   "dst_idx": kk.ravel(), "value": m.ravel(), "relevance": m.ravel(),
                                   "redundancy": 0.0, "value_norm": (m / m.max()).ravel(), "cost": 1.0}))
    edges = conform(pd.concat(parts, ignore_index=True), EDGE_COLUMNS)
    layer = np.repeat(np.arange(len(SIZES)), SIZES)
    idx = np.concatenate([np.arange(s) for s in SIZES])
    metrics = conform(pd.DataFrame({
        "layer": layer, "idx": idx, "betweenness": rng.random(layer.size), "community": layer % 3,
        "prunable": (layer == 3) & (idx < 4), "in_flow": 1.0, "out_flow": 1.0,
    }), NEURON_METRIC_COLUMNS)
    return edges, metrics, blocks


def test_layers_of_more_than_64_units_are_one_node_with_the_mean_of_their_edges(dag_run):
    edges, metrics, blocks = dag_run
    g = prepare(SIZES, edges, metrics, None, 10**6, aggregate_over=64, layer_names=NAMES)
    assert g.aggregated == (False, True, False, True, False)  # 64 pixels stay units: "more than 64"
    assert g.sizes == (64, 1, 8, 1, 10) and g.layer.size == 64 + 1 + 8 + 1 + 10
    assert g.units.tolist() == [1] * 64 + [100] + [1] * 8 + [100] + [1] * 10
    assert g.names[64] == "conv_a: 100 units" and g.names[64 + 1 + 8] == "conv_c: 100 units, 4 prunable"
    e = g.edges.set_index(["src_layer", "dst_layer", "src_idx", "dst_idx"])
    # block → block: one edge, the mean over all 100 × 100 unit pairs (zeros included)
    one = e.loc[(1, 3, 0, 0)]
    assert one["n_edges"] == 10_000 and one["skip"]
    assert one["value"] == pytest.approx(blocks[(1, 3)].mean()) and one["value_sum"] == pytest.approx(blocks[(1, 3)].sum())
    assert one["value_norm"] == pytest.approx((blocks[(1, 3)] / blocks[(1, 3)].max()).mean())
    # unit → block: one edge per unit, the mean over the block's units; block → unit likewise
    np.testing.assert_allclose(e.xs((0, 1), level=(0, 1))["value"].sort_index().to_numpy(), blocks[(0, 1)].mean(axis=1))
    np.testing.assert_allclose(e.xs((1, 2), level=(0, 1))["value"].sort_index().to_numpy(), blocks[(1, 2)].mean(axis=0))
    assert len(g.edges) == 64 + 8 + 8 + 1 + 10 + 10
    assert set(g.edges.loc[g.edges["skip"], "dst_layer"]) == {3, 4} and g.n_skip == 1 + 10
    plain = prepare(SIZES, edges, metrics, None, 10**6)  # without aggregation: every unit, as before
    assert plain.layer.size == sum(SIZES) and not any(plain.aggregated) and len(plain.edges) == (edges["value_norm"] > 0).sum()


def test_the_static_figure_draws_skips_as_curves_over_the_bypassed_layers_and_labels_blocks(dag_run):
    edges, metrics, _ = dag_run
    fig = P.flow_figure(SIZES, edges, metrics, layer_names=NAMES, title="a big DAG")
    ax = fig.axes[0]
    by_gid = {c.get_gid(): c for c in ax.collections if c.get_gid()}
    straight, curves = by_gid["edges"], by_gid["skip-edges"]
    assert len(curves.get_paths()) == 11 and len(straight.get_paths()) == 64 + 8 + 8 + 10
    assert all(len(p.vertices) == 2 for p in straight.get_paths())
    tops = []
    for p in curves.get_paths():
        v = p.vertices
        assert len(v) > 2  # a curve, not a segment
        x0, x1 = v[0, 0], v[-1, 0]
        assert x1 - x0 >= 2  # it spans at least one layer column
        between = (v[:, 0] > x0 + 0.5) & (v[:, 0] < x1 - 0.5)
        tops.append(v[between, 1].min() if between.any() else v[len(v) // 2, 1])
    assert min(tops) > 0.5  # over every bypassed column, above its highest node (y ≤ 0.5)
    assert {round(t, 6) for t in tops} and len({round(t, 6) for t in tops}) == 2  # one lane per layer pair
    assert len(by_gid["aggregated-nodes"].get_offsets()) == 2
    labels = [t.get_text() for t in ax.texts if t.get_gid() == "aggregated-label"]
    assert labels == ["conv_a: 100 units", "conv_c: 100 units, 4 prunable"]
    captions = [t.get_text() for t in ax.texts]
    assert "conv_a\n(100)" in captions and "head\n(10)" in captions and "input\n(64)" in captions
    block = [t.get_text() for t in ax.texts if t.get_gid() == "block-edge-label"]
    assert len(block) == 1 and block[0].startswith("mean ") and "over 10,000 edges" in block[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "skip edge (bypasses layers)" in legend and "aggregated layer" in legend
    # off: every unit a node, the skips still curves
    fig = P.flow_figure(SIZES, edges, metrics, aggregate_over=None, max_edges=500)
    assert "aggregated-nodes" not in {c.get_gid() for c in fig.axes[0].collections}


def test_a_chain_has_no_curves_and_the_html_keeps_every_unit_with_curved_skips(dag_run, tmp_path):
    edges, metrics, _ = dag_run
    chain = edges[edges["dst_layer"] - edges["src_layer"] == 1]
    fig = P.flow_figure(SIZES, chain, metrics, aggregate_over=None)
    assert "skip-edges" not in {c.get_gid() for c in fig.axes[0].collections}
    page = P.write_html(SIZES, edges, metrics, path=tmp_path / "g.html", max_edges=600, layer_names=NAMES).read_text()
    assert page.count("<circle") == sum(SIZES)  # the detail: no aggregation
    n_skip = page.count('<path class="skip"')
    assert n_skip > 0 and n_skip + page.count("<line") == 600
    assert "conv_a (100)" in page and "Orange curves: skip edges" in page
    paths = P.plot_flow(SIZES, edges, metrics, layer_names=NAMES, path_stem=tmp_path / "f", formats=("svg",))
    assert paths[0].stat().st_size > 0

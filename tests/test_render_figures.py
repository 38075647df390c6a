"""nifgraph.render.figures: files are written, complete, labelled, and wide networks stay fast."""

from __future__ import annotations

import json
import re
import sys
import time

import numpy as np
import pandas as pd
import pytest

from nifgraph.analysis import local as A
from nifgraph.errors import ValidationError
from nifgraph.records import EDGE_COLUMNS, NEURON_METRIC_COLUMNS, conform
from nifgraph.render import figures as P

FEATURES = ["variance", "skewness", "curtosis", "entropy"]
CLASSES = ["genuine", "forged"]


def frames(mats, *, stats=False):
    """(sizes, edges with EDGE_COLUMNS, metrics with NEURON_METRIC_COLUMNS) of a network."""
    sizes = A.sizes_of(mats)
    off = A.layer_offsets(sizes)
    src, dst, value, value_norm, cost = A.edge_list(mats)
    sl = np.searchsorted(off, src, side="right") - 1
    edges = pd.DataFrame(
        {
            "run_id": "r-test",
            "src_layer": sl,
            "src_idx": src - off[sl],
            "dst_layer": sl + 1,
            "dst_idx": dst - off[sl + 1],
            "value": value,
            "relevance": value,
            "redundancy": 0.0,
            "value_norm": value_norm,
            "cost": cost,
        }
    )
    if stats:
        edges["ci_low"] = value * 0.5
        edges["ci_high"] = value * 1.5
        edges.loc[0, "ci_low"] = np.nan  # one edge without an interval
    edges = conform(edges, EDGE_COLUMNS)
    mats = [m.copy() for m in mats]
    metrics = A.analyze(mats, threshold=0.05).metrics_frame(sizes)
    assert list(metrics.columns) == list(NEURON_METRIC_COLUMNS)
    return sizes, edges, metrics


@pytest.fixture
def small():
    rng = np.random.default_rng(0)
    mats = [rng.random((4, 6)), rng.random((6, 5)), rng.random((5, 2))]
    mats[0][:, 2] = 0.01  # hidden neuron (1, 2) receives nothing: prunable
    sizes, edges, metrics = frames(mats, stats=True)
    names = [FEATURES, [f"h1_{i}" for i in range(6)], [f"h2_{i}" for i in range(5)], CLASSES]
    acts = [rng.standard_normal((300, n)) for n in sizes]
    acts[1] = np.maximum(acts[1], 0.0)
    return sizes, edges, metrics, names, acts


def test_plot_flow_writes_png_and_svg(small, tmp_path):
    sizes, edges, metrics, names, acts = small
    assert metrics["prunable"].any()
    out = P.plot_flow(
        sizes,
        edges,
        metrics,
        names=names,
        activations=acts,
        title="banknote 4-6-5-2",
        path_stem=tmp_path / "fig" / "flow.v1",
    )
    assert [p.name for p in out] == ["flow.v1.png", "flow.v1.svg"]
    png, svg = (p.read_bytes() for p in out)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    assert b"<svg" in svg[:2000] and svg.rstrip().endswith(b"</svg>")
    import matplotlib.pyplot as plt

    assert plt.get_fignums() == []  # no pyplot figure left open


def test_plot_flow_variants_and_errors(small, tmp_path):
    sizes, edges, metrics, names, acts = small
    hidden_only = acts[1:-1]
    (pdf,) = P.plot_flow(
        sizes, edges, metrics, activations=hidden_only, path_stem=tmp_path / "h", formats=["pdf"]
    )
    assert pdf.read_bytes().startswith(b"%PDF")
    (png,) = P.plot_flow(sizes, edges, metrics, path_stem=tmp_path / "plain", formats=("png",))
    assert png.stat().st_size > 0
    silent = edges.iloc[:0]  # a run whose edges are all zero still draws
    assert P.plot_flow(sizes, silent, metrics, path_stem=tmp_path / "e", formats=["svg"])
    assert P.write_html(sizes, silent, metrics, path=tmp_path / "e.html").stat().st_size > 0
    with pytest.raises(ValidationError, match="shape"):
        P.plot_flow(
            sizes, edges, metrics, activations=[a[:, :1] for a in acts], path_stem=tmp_path / "x"
        )
    with pytest.raises(ValidationError, match="formats"):
        P.plot_flow(sizes, edges, metrics, path_stem=tmp_path / "x", formats=("gif",))
    with pytest.raises(ValidationError, match="value_norm"):
        P.plot_flow(sizes, edges.drop(columns="value_norm"), metrics, path_stem=tmp_path / "x")
    with pytest.raises(ValidationError, match="names"):
        P.plot_flow(sizes, edges, metrics, names=[FEATURES], path_stem=tmp_path / "x")


def test_wide_layers_draw_only_strongest_edges_fast(tmp_path):
    rng = np.random.default_rng(1)
    sizes = (64, 256, 128, 10)
    mats = [rng.random((a, b)) ** 3 for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    sizes, edges, metrics = frames(mats)
    assert len(edges) == 64 * 256 + 256 * 128 + 128 * 10
    from nifgraph.render.graph import prepare

    g = prepare(sizes, edges, metrics, None, P.MAX_EDGES)
    assert len(g.edges) == P.MAX_EDGES == 2000
    assert g.edges["value_norm"].min() >= np.sort(edges["value_norm"].to_numpy())[-2000]
    acts = [rng.standard_normal((1000, n)) for n in sizes]
    t0 = time.perf_counter()
    out = P.plot_flow(sizes, edges, metrics, activations=acts, path_stem=tmp_path / "wide")
    html = P.write_html(sizes, edges, metrics, path=tmp_path / "wide.html")
    elapsed = time.perf_counter() - t0
    assert all(p.stat().st_size > 0 for p in [*out, html])
    assert elapsed < 8.0, f"wide network took {elapsed:.1f} s"


def _viz_data(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="neo4j-viz-data">(.*?)</script>', page, re.S)
    assert m, "neo4j-viz data block missing"
    return json.loads(m.group(1))  # strict JSON: a NaN would fail here


def test_write_html_neo4j_viz(small, tmp_path):
    pytest.importorskip("neo4j_viz")
    sizes, edges, metrics, names, _ = small
    path = P.write_html(
        sizes, edges, metrics, names=names, path=tmp_path / "v" / "g.html", title="NIF graph", engine="neo4j-viz"
    )
    page = path.read_text(encoding="utf-8")
    assert "<title>NIF graph</title>" in page
    assert "<script src=" not in page  # everything inlined: works offline
    data = _viz_data(page)
    assert len(data["nodes"]) == sum(sizes)
    assert len(data["relationships"]) == len(edges)
    captions = {n["caption"].replace(" ✕", "") for n in data["nodes"]}
    assert set(FEATURES) <= captions and set(CLASSES) <= captions
    node = data["nodes"][0]["properties"]
    assert {"name", "betweenness", "community", "prunable"} <= set(node)
    rels = [r["properties"] for r in data["relationships"]]
    assert all({"NIF (nats)", "value_norm"} <= set(r) for r in rels)
    assert sum("ci_low" in r for r in rels) == len(edges) - 1  # the NaN one is left out
    assert all("p_value" not in r for r in rels)  # all NaN in this run


def test_write_html_is_a_small_self_contained_svg_page(small, tmp_path, monkeypatch):
    sizes, edges, metrics, names, _ = small
    monkeypatch.setitem(sys.modules, "neo4j_viz", None)  # the default needs no optional package
    path = P.write_html(sizes, edges, metrics, names=names, path=tmp_path / "g.html", title="T")
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "viewBox" in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page and "<script src" not in page  # works offline
    assert path.stat().st_size < 50_000
    assert "margin:1em auto" in page and "margin:0 auto" in page  # centred
    for name in FEATURES:  # inputs: feature names on their left
        assert re.search(rf'text-anchor="end">{re.escape(name)}</text>', page), name
    for name in CLASSES:  # outputs: class names on their right
        assert re.search(rf'text-anchor="start">{re.escape(name)}</text>', page), name
    assert page.count("<circle") == sum(sizes) and page.count("<line") == len(edges)
    assert "betweenness:" in page and "community:" in page and "ci_low:" in page
    with pytest.raises(ValidationError, match="neo4j-viz"):
        P.write_html(sizes, edges, metrics, path=tmp_path / "h.html", engine="neo4j-viz")


def test_outputs_fail_cleanly_and_leave_no_partial_file(tmp_path, monkeypatch):
    """An existing file where the folder should be, a read-only folder, a failing write (full
    disk): one ValidationError naming the path and --out, and no file left behind."""
    import os

    import pytest

    from nifgraph.errors import ValidationError
    from nifgraph.render.files import output_folder, write_file

    blocker = tmp_path / "taken"
    blocker.write_text("x")
    with pytest.raises(ValidationError, match="is a file.*--out"):
        output_folder(blocker)
    if os.geteuid() != 0:  # root may write anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        with pytest.raises(ValidationError, match="not writable"):
            write_file(ro / "a.png", lambda p: p.write_bytes(b"1"))

    def full_disk(p):
        p.write_bytes(b"half")
        raise OSError(28, "No space left on device")

    target = tmp_path / "out" / "fig.png"
    with pytest.raises(ValidationError, match="No space left on device.*--out"):
        write_file(target, full_disk)
    assert list((tmp_path / "out").iterdir()) == []  # neither the file nor its temporary
    assert write_file(target, lambda p: p.write_bytes(b"ok")).read_bytes() == b"ok"

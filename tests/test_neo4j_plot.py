"""`nifgraph plot --neo4j`: Neo4j's graph view (neo4j-viz) of one run, hierarchical (neurons
pinned layer by layer, left to right), from any store."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from .conftest import invoke, train_iris

pytest.importorskip("neo4j_viz", reason="plot --neo4j needs the neo4j-viz package (pip install 'nifgraph[viz]')")


def test_plot_neo4j_writes_a_layered_neo4j_viz_page(tmp_path):
    mid = train_iris()
    res = invoke("estimate", mid, "--estimator", "gcmi", "--json")
    assert res.exit_code == 0, res.output
    res = invoke("plot", mid, "--neo4j", "--out", str(tmp_path), "--json")
    assert res.exit_code == 0, res.output
    page = next(p for p in map(Path, json.loads(res.stdout)) if p.name.endswith(".neo4j.html"))
    text = page.read_text(encoding="utf-8")
    assert "<title>" in text and "petal width (cm)" in text and "virginica" in text
    # pinned coordinates: one x per layer, layers left to right (Iris 4-h-3: three distinct x)
    xs = {float(x) for x in re.findall(r'"x":\s*(-?[0-9.]+)', text)}
    assert len(xs) == 3 and min(xs) == 0.0

"""nifgraph.render.layout: tables readable at 80 columns — nothing cut with "…", headers
abbreviated with a legend, text wrapped, wide tables split with their row labels repeated, and
numbers that never round to nothing."""

from __future__ import annotations

import math

import pytest
from rich.console import Console

from nifgraph.render.layout import Col, FitTable, fmt_num


def render(renderable, width: int = 80) -> str:
    console = Console(width=width, record=True, force_terminal=False)
    console.print(renderable)
    return console.export_text()


def table_rows(text: str) -> list[list[list[str]]]:
    """The body rows of every table in ``text``: cells split on the column rule."""
    tables, body = [], None
    for line in text.splitlines():
        if "━" in line:
            body = []
            tables.append(body)
        elif body is not None and "│" in line:
            body.append([c.strip() for c in line.split("│")])
        else:
            body = None
    return tables


@pytest.mark.parametrize("v, nd, text", [
    (0.0, 3, "0.000"), (0.0123, 3, "0.012"), (3.14159, 3, "3.142"), (4.1e-10, 3, "4.1e-10"),
    (0.00045, 3, "4.5e-04"), (-0.007, 3, "-7.0e-03"), (0.5, 2, "0.50"), (float("nan"), 3, "—"), (None, 3, "—"),
])
def test_numbers_keep_their_significant_digits(v, nd, text):
    assert fmt_num(v, nd) == text
    if text != "—":
        assert math.isclose(float(text), v, rel_tol=0.06, abs_tol=10.0 ** -nd / 2)


def test_a_table_that_fits_keeps_its_full_headers():
    t = FitTable([Col("neuron"), Col("betweenness", "btw", "num")], [["h1_0", "10.00"]])
    out = render(t)
    assert "betweenness" in out and "btw" not in out and "…" not in out


def test_headers_are_abbreviated_with_a_legend_and_nothing_is_cut():
    cols = [Col("neuron")] + [Col(f"long header {k}", f"h{k}", "num") for k in range(8)]
    rows = [[f"sepal length (cm) {i}", *[fmt_num(10.0 ** -k * (i + 1)) for k in range(8)]] for i in range(4)]
    out = render(FitTable(cols, rows, title="A table"))
    assert "…" not in out and max(len(ln.rstrip()) for ln in out.splitlines()) <= 80
    assert "h0 = long header 0" in out and "h7 = long header 7" in out
    for row in table_rows(out)[0]:
        [float(c) for c in row[1:] if c]


def test_text_wraps_and_ids_stay_whole():
    mid = "m-0123456789ab"
    cols = [Col("model", kind="id"), Col("name"), Col("why"), Col("acc", kind="num")]
    rows = [[mid, "a-rather-long-model-name-" * 3, "no significant edge in or out above 0.02 nats " * 3, "0.9333"]]
    out = render(FitTable(cols, rows), 60)
    assert "…" not in out and mid in out and "0.9333" in out
    assert max(len(ln.rstrip()) for ln in out.splitlines()) <= 60


def test_a_table_too_wide_for_its_columns_is_split_with_its_labels_repeated():
    classes = [str(c) for c in range(10)]
    cols = [Col("feature")] + [Col(c, kind="num") for c in classes]
    rows = [[f"pixel_{i}_{j}", *[fmt_num(((i * 8 + j) * 7 + k) % 13 * 1e-3 + 1e-9) for k in range(10)]]
            for i in range(8) for j in range(8)]
    out = render(FitTable(cols, rows, title="Feature attribution"))
    assert "…" not in out and max(len(ln.rstrip()) for ln in out.splitlines()) <= 80
    parts = table_rows(out)
    assert len(parts) >= 2 and "part 1 of" in out
    assert all(len(p) == 64 and p[0][0] == "pixel_0_0" for p in parts)  # every part labels its rows
    assert sum(len(p[0]) - 1 for p in parts) == 10  # every class once
    for p in parts:
        for row in p:
            [float(c) for c in row[1:]]

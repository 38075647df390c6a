"""The interactive HTML view of a NIF network: one small self-contained page (inline SVG, a few
lines of script, works offline), centred, inputs labelled with feature names and outputs with
class names, the neuron metrics and edge statistics in hover tooltips. On request
(``engine="neo4j-viz"``), Neo4j's graph view instead: it inlines its JavaScript library, so
that page weighs several MB."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ValidationError
from .files import write_file
from .graph import (
    MAX_EDGES,
    MAX_LABELS,
    OPTIONAL_EDGE_STATS,
    FlowGraph,
    community_colors,
    hex_color,
    node_area,
    prepare,
    skip_paths,
)

__all__ = ["write_html"]

def _sig(v: float, digits: int = 6) -> float:
    """A float rounded to ``digits`` significant digits (short tooltips, tiny values kept)."""
    return float(f"{float(v):.{digits}g}")


def _node_props(g: FlowGraph, node: int) -> dict[str, object]:
    props: dict[str, object] = {
        "name": g.names[node],
        "layer": int(g.layer[node]),
        "idx": int(g.idx[node]),
        "betweenness": _sig(g.betweenness[node]),
        "community": int(g.community[node]),
        "prunable": bool(g.prunable[node]),
    }
    for col, arr in g.extra.items():
        if np.isfinite(arr[node]):
            props[col] = _sig(arr[node])
    return props


def _edge_props(row: pd.Series) -> dict[str, object]:
    props: dict[str, object] = {
        "NIF (nats)": _sig(row["value"]),
        "value_norm": _sig(row["value_norm"]),
    }
    for col in OPTIONAL_EDGE_STATS:
        if col in row.index and pd.notna(row[col]) and np.isfinite(float(row[col])):
            props[col] = _sig(row[col])  # NaN would break the page's JSON
    return props


def _write_neo4j_viz(g: FlowGraph, title: str, path: Path) -> None:
    from neo4j_viz import Layout, Node, Relationship, VisualizationGraph

    colors = community_colors(g.community)
    top = g.betweenness.max()
    rel = g.betweenness / top if top > 0 else np.zeros_like(g.betweenness)
    r_max = 30.0 if g.layer.size <= 100 else 14.0
    radius = r_max / 4 + (r_max - r_max / 4) * rel  # pixels
    x_step = 320.0
    y_span = max(400.0, 28.0 * max(g.sizes))
    nodes = [
        Node(
            id=int(i),
            caption=g.names[i] + (" ✕" if g.prunable[i] else ""),
            size=float(radius[i]),
            color=hex_color(colors[i]),
            x=float(g.x[i] * x_step),
            y=float(-g.y[i] * y_span),
            pinned=True,
            properties=_node_props(g, i),
        )
        for i in range(g.layer.size)
    ]
    captions = len(g.edges) <= 200
    rels = [
        Relationship(
            id=f"e{k}",
            source=int(row["src"]),
            target=int(row["dst"]),
            caption=f"{row['value']:.3g}" if captions else None,
            width=0.5 + 5.0 * float(row["value_norm"]),
            properties=_edge_props(row),
        )
        for k, (_, row) in enumerate(g.edges.iterrows())
    ]
    vg = VisualizationGraph(nodes=nodes, relationships=rels)
    page = vg.render(layout=Layout.COORDINATE, height="900px", on_dangling="error").data
    head = f"<title>{html.escape(title or 'NIF network')}</title>"
    page = page.replace("</head>", f"{head}\n</head>", 1)
    write_file(path, lambda tmp: tmp.write_text(page, encoding="utf-8"))


#: Input and output layers up to this size get a label per neuron (feature / class names).
MAX_SIDE_LABELS = 200
_CHAR_PX = 6.6  # width of one character of the 11 px labels, for the margins

_SCRIPT = """<script>
// hover a neuron: its edges stand out, the others fade
document.querySelectorAll('circle[data-n]').forEach(c => {
  const n = c.dataset.n, edges = document.querySelectorAll('[data-s="' + n + '"],[data-d="' + n + '"]');
  c.addEventListener('mouseenter', () => { document.body.classList.add('focus'); edges.forEach(e => e.classList.add('on')); });
  c.addEventListener('mouseleave', () => { document.body.classList.remove('focus'); edges.forEach(e => e.classList.remove('on')); });
});
</script>"""


def _write_svg_page(g: FlowGraph, title: str, path: Path) -> None:
    """One small self-contained page: inline SVG, centred and scaled to the window, tooltips
    from ``<title>`` elements, a few lines of script (hover highlights a neuron's edges); input
    neurons labelled with feature names on their left, output neurons with class names on
    their right, hidden neurons above (layers up to ``MAX_LABELS``)."""
    colors = community_colors(g.community)
    radius = np.sqrt(node_area(g.betweenness, g.layer.size) / np.pi)
    last = len(g.sizes) - 1
    side = [g.sizes[0] <= MAX_SIDE_LABELS, g.sizes[last] <= MAX_SIDE_LABELS]
    first_names = [g.names[i] for i in range(g.layer.size) if g.layer[i] == 0]
    last_names = [g.names[i] for i in range(g.layer.size) if g.layer[i] == last]
    r_max = float(radius.max()) if radius.size else 0.0
    left = 30.0 + r_max + (_CHAR_PX * max(map(len, first_names), default=0) if side[0] else 0.0)
    right = 30.0 + r_max + (_CHAR_PX * max(map(len, last_names), default=0) if side[1] else 0.0)
    w_step, h = 260.0, max(420.0, 22.0 * max(g.sizes))
    paths, lane_top = skip_paths(g)
    above = (lane_top - float(g.y.max())) * (h - 80.0) if g.n_skip else 0.0  # room for the skip lanes
    top = 40.0 + above  # room for the layer captions
    px = left + g.x * w_step
    py = top + h / 2 - g.y * (h - 80.0)
    width = left + last * w_step + right
    height = top + h
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title or 'NIF network')}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:1em auto;max-width:"
        f"{max(width, 640):.0f}px;text-align:center}}"
        "svg{display:block;margin:0 auto;width:100%;height:auto}"
        "line{stroke:#2b6cb0}path.skip{stroke:#dd6b20;fill:none}.on{stroke:#c0392b!important;stroke-opacity:1}"
        "body.focus line:not(.on),body.focus path.skip:not(.on){stroke-opacity:.06}circle:hover{stroke-width:3}"
        "text{font-size:11px;fill:#222}text.layer{font-weight:bold;fill:#555}</style></head><body>",
        f"<h2>{esc(title or 'NIF network')}</h2>",
        "<p>Hover a neuron or an edge for its values. Node size: betweenness; colour: "
        "community; hollow: prunable; edge width: NIF / layer max."
        + (" Orange curves: skip edges, over the layers they bypass." if g.n_skip else "")
        + (f" The {len(g.edges)} strongest of {g.n_edges_total} edges are drawn." if len(g.edges) < g.n_edges_total else "")
        + "</p>",
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="{width:.0f}" height="{height:.0f}" role="img" aria-label="{esc(title or "NIF network")}">',
    ]
    for li, n in enumerate(g.sizes):
        caption = g.layer_names[li] if g.layer_names else "inputs" if li == 0 else "classes" if li == last else f"hidden {li}"
        parts.append(f'<text class="layer" x="{left + li * w_step:.1f}" y="18" text-anchor="middle">{esc(caption)} ({n})</text>')
    for k, (_, row) in enumerate(g.edges.iterrows()):
        s, d = int(row["src"]), int(row["dst"])
        tip = f"{g.names[s]} → {g.names[d]}" + (" (skip)" if row["skip"] else "") + "\n" + "\n".join(
            f"{k}: {v}" for k, v in _edge_props(row).items()
        )
        look = (f'stroke-opacity="{0.25 + 0.75 * row["value_norm"]:.2f}" '
                f'stroke-width="{0.5 + 4 * row["value_norm"]:.2f}"><title>{esc(tip)}</title>')
        if paths[k] is not None:  # a skip edge: a curve above the layers it bypasses
            pts = " L ".join(f"{left + x * w_step:.1f} {top + h / 2 - y * (h - 80.0):.1f}" for x, y in paths[k])
            parts.append(f'<path class="skip" data-s="{s}" data-d="{d}" d="M {pts}" {look}</path>')
        else:
            parts.append(f'<line data-s="{s}" data-d="{d}" x1="{px[s]:.1f}" y1="{py[s]:.1f}" x2="{px[d]:.1f}" '
                         f'y2="{py[d]:.1f}" {look}</line>')
    for i in range(g.layer.size):
        tip = "\n".join(f"{k}: {v}" for k, v in _node_props(g, i).items())
        fill = "white" if g.prunable[i] else hex_color(colors[i])
        parts.append(
            f'<circle data-n="{i}" cx="{px[i]:.1f}" cy="{py[i]:.1f}" r="{radius[i]:.1f}" fill="{fill}" '
            f'stroke="{hex_color(colors[i]) if g.prunable[i] else "#000"}" stroke-width="1">'
            f"<title>{esc(tip)}</title></circle>"
        )
        li = int(g.layer[i])
        if li == 0 and side[0]:
            parts.append(f'<text x="{px[i] - radius[i] - 6:.1f}" y="{py[i] + 4:.1f}" text-anchor="end">{esc(g.names[i])}</text>')
        elif li == last and side[1]:
            parts.append(f'<text x="{px[i] + radius[i] + 6:.1f}" y="{py[i] + 4:.1f}" text-anchor="start">{esc(g.names[i])}</text>')
        elif 0 < li < last and g.sizes[li] <= MAX_LABELS:
            parts.append(f'<text x="{px[i]:.1f}" y="{py[i] - radius[i] - 3:.1f}" text-anchor="middle">{esc(g.names[i])}</text>')
    parts += ["</svg>", _SCRIPT, "</body></html>"]
    text = "\n".join(parts)
    write_file(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_html(
    sizes: Sequence[int],
    edges: pd.DataFrame,
    metrics: pd.DataFrame,
    *,
    names: list[list[str]] | None = None,
    path: Path,
    title: str = "",
    max_edges: int = MAX_EDGES,
    engine: str = "auto",
    layer_names: Sequence[str] | None = None,
) -> Path:
    """Write the NIF network as one interactive, self-contained HTML page.

    Hovering a neuron shows its name, betweenness, community (and flows, prunable);
    hovering an edge shows its NIF value, ``value_norm`` and, where the run computed
    them, ``ci_low``, ``ci_high``, ``p_value``, ``q_value``.

    Parameters
    ----------
    engine : {"auto", "svg", "neo4j-viz"}
        ``"auto"`` and ``"svg"``: a small self-contained SVG page (tens of KB, works offline).
        ``"neo4j-viz"``: Neo4j's graph view (needs ``nifgraph[viz]``); it inlines its
        JavaScript library, so the page weighs several MB.
    max_edges : int
        Keep only the strongest ``max_edges`` edges (a browser chokes on 50 000).
    layer_names : sequence of str, optional
        One caption per layer (a DAG model's layer names). Every unit is drawn (no
        aggregation: this page is the detail of the static figure); skip edges are curves.

    Returns
    -------
    Path
        ``path``.
    """
    if engine not in ("auto", "neo4j-viz", "svg"):
        raise ValidationError(
            f"The 'engine' parameter of write_html must be 'auto', 'neo4j-viz' or 'svg'. Got {engine!r} instead."
        )
    g = prepare(sizes, edges, metrics, names, max_edges, layer_names=layer_names)  # every unit: the detail
    path = Path(path)
    if engine == "neo4j-viz":
        try:
            import neo4j_viz  # noqa: F401
        except ImportError as e:
            raise ValidationError(
                "write_html(engine='neo4j-viz') needs the neo4j-viz package: pip install "
                "'nifgraph[viz]', or use engine='svg'."
            ) from e
        else:
            _write_neo4j_viz(g, title, path)
            return path
    _write_svg_page(g, title, path)
    return path

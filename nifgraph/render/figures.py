"""Figures of a NIF network: a paper-style static figure and an interactive HTML view.

:func:`plot_flow` draws the figure of Davis et al. (arXiv:1901.08557, Figures 2-4): the
layered network on the left (one column per layer, node area proportional to betweenness,
colour = Louvain community, edge width and colour = NIF normalised per layer, prunable
neurons hollow and crossed) and, when activations are given, the activation distribution
of every hidden neuron on the right. Wide layers (e.g. 64-256-128-10) are drawn with only
the strongest edges and without labels, in a few seconds.

:func:`write_html` writes the same graph as one self-contained HTML page: Neo4j's graph
view (``neo4j-viz``, which inlines its JavaScript, so the page works offline) with the
neuron metrics and edge statistics in the hover tooltips; without ``neo4j-viz`` it writes
a plain SVG page whose tooltips are SVG ``<title>`` elements.

Matplotlib runs through the Agg canvas on a bare :class:`~matplotlib.figure.Figure`, so
nothing here touches pyplot's global state or needs a display.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..analysis.local import layer_offsets
from ..errors import ValidationError

__all__ = ["plot_flow", "write_html", "MAX_EDGES"]

#: Edges drawn at most (the strongest by ``value_norm``); more only blurs the figure.
MAX_EDGES = 2000
#: Layers wider than this get no neuron labels.
MAX_LABELS = 40
#: Hidden layers wider than this show activations as a heat map instead of ridgelines.
MAX_RIDGES = 32
_FORMATS = ("png", "svg", "pdf")
_EDGE_NEEDS = ("src_layer", "src_idx", "dst_layer", "dst_idx", "value", "value_norm")
_METRIC_NEEDS = ("layer", "idx", "betweenness", "community", "prunable")
_OPTIONAL_EDGE_STATS = ("ci_low", "ci_high", "p_value", "q_value")


# -- shared preparation ------------------------------------------------------------------
@dataclass(frozen=True)
class _Graph:
    """Everything a drawing needs, as flat per-node / per-edge arrays."""

    sizes: tuple[int, ...]
    offsets: np.ndarray  # (L + 2,)
    layer: np.ndarray  # (n_nodes,)
    idx: np.ndarray  # (n_nodes,)
    x: np.ndarray  # (n_nodes,)
    y: np.ndarray  # (n_nodes,)
    names: list[str]  # (n_nodes,)
    betweenness: np.ndarray  # (n_nodes,)
    community: np.ndarray  # (n_nodes,) -1 where unknown
    prunable: np.ndarray  # (n_nodes,) bool
    extra: dict[str, np.ndarray]  # optional per-node metrics (in_flow, out_flow)
    edges: pd.DataFrame  # selected edges, weakest first, with flat "src" and "dst"
    n_edges_total: int


def _check_columns(frame: pd.DataFrame, needs: Sequence[str], what: str) -> None:
    missing = [c for c in needs if c not in frame.columns]
    if missing:
        raise ValidationError(
            f"The {what} table lacks column(s) {missing}: pass the table of "
            f"records.{'EDGE' if what == 'edge' else 'NEURON_METRIC'}_COLUMNS."
        )


def _default_names(sizes: Sequence[int]) -> list[list[str]]:
    last = len(sizes) - 1
    return [
        [f"x{i}" if li == 0 else f"y{i}" if li == last else f"h{li}_{i}" for i in range(n)]
        for li, n in enumerate(sizes)
    ]


def _prepare(
    sizes: Sequence[int],
    edges: pd.DataFrame,
    metrics: pd.DataFrame,
    names: list[list[str]] | None,
    max_edges: int,
) -> _Graph:
    sizes = tuple(int(s) for s in sizes)
    off = layer_offsets(sizes)
    n = int(off[-1])
    _check_columns(edges, _EDGE_NEEDS, "edge")
    _check_columns(metrics, _METRIC_NEEDS, "neuron metric")
    if names is None:
        names = _default_names(sizes)
    elif len(names) != len(sizes) or any(len(a) != b for a, b in zip(names, sizes, strict=False)):
        raise ValidationError(
            f"'names' must hold one list of names per layer with sizes {list(sizes)}; got "
            f"lengths {[len(a) for a in names]}."
        )
    layer = np.repeat(np.arange(len(sizes)), sizes)
    idx = np.arange(n) - off[layer]
    # one column per layer, neurons evenly spaced and centred, idx 0 at the top; a narrow
    # layer is spread over at least (n - 1) / 16 of the height so its labels stay legible
    n_arr = np.asarray(sizes, dtype=np.float64)
    spread = np.minimum(1.0, np.maximum((n_arr - 1) / max(max(sizes) - 1, 1), (n_arr - 1) / 16))
    step = np.where(n_arr > 1, spread / np.maximum(n_arr - 1, 1), 0.0)  # (L + 1,)
    y = ((n_arr[layer] - 1) / 2.0 - idx) * step[layer]

    ml = metrics["layer"].to_numpy(dtype=np.int64)
    mi = metrics["idx"].to_numpy(dtype=np.int64)
    ok = (ml >= 0) & (ml < len(sizes))
    ok[ok] &= (mi[ok] >= 0) & (mi[ok] < np.asarray(sizes)[ml[ok]])
    if not ok.all():
        raise ValidationError(
            f"The neuron metric table has neurons outside layer sizes {list(sizes)}: pass the "
            "metrics of the run being drawn."
        )
    flat = off[ml] + mi
    betw = np.zeros(n)
    comm = np.full(n, -1, dtype=np.int64)
    prun = np.zeros(n, dtype=bool)
    betw[flat] = metrics["betweenness"].to_numpy(dtype=np.float64)
    comm[flat] = metrics["community"].to_numpy(dtype=np.int64)
    prun[flat] = metrics["prunable"].to_numpy(dtype=bool)
    extra = {}
    for col in ("in_flow", "out_flow"):
        if col in metrics.columns:
            arr = np.full(n, np.nan)
            arr[flat] = metrics[col].to_numpy(dtype=np.float64)
            extra[col] = arr

    e = edges[edges["value_norm"].to_numpy(dtype=np.float64) > 0]
    sl = e["src_layer"].to_numpy(dtype=np.int64)
    dl = e["dst_layer"].to_numpy(dtype=np.int64)
    if ((dl != sl + 1) | (sl < 0) | (dl >= len(sizes))).any():
        raise ValidationError(
            f"The edge table has edges that do not join consecutive layers of {list(sizes)}: "
            "pass the edges of one run of this model."
        )
    src = off[sl] + e["src_idx"].to_numpy(dtype=np.int64)
    dst = off[dl] + e["dst_idx"].to_numpy(dtype=np.int64)
    if ((src >= off[sl + 1]) | (dst >= off[dl + 1])).any():
        raise ValidationError(
            f"The edge table has neuron indices outside layer sizes {list(sizes)}: pass the "
            "edges of one run of this model."
        )
    e = e.assign(src=src, dst=dst)
    total = len(e)
    if total > max_edges:
        vn = e["value_norm"].to_numpy(dtype=np.float64)
        keep = np.argpartition(-vn, max_edges - 1)[:max_edges]
        e = e.iloc[keep]
    e = e.sort_values("value_norm", kind="stable").reset_index(drop=True)
    return _Graph(
        sizes=sizes,
        offsets=off,
        layer=layer,
        idx=idx,
        x=layer.astype(np.float64),
        y=y,
        names=[str(s) for layer_names in names for s in layer_names],
        betweenness=betw,
        community=comm,
        prunable=prun,
        extra=extra,
        edges=e,
        n_edges_total=total,
    )


def _community_colors(comm: np.ndarray) -> np.ndarray:
    """RGBA per node: tab10 / tab20 by community, grey when unknown. Shape (n_nodes, 4)."""
    from matplotlib import colormaps

    k = int(comm.max()) + 1 if comm.size and comm.max() >= 0 else 0
    cmap = colormaps["tab10" if k <= 10 else "tab20"]
    cols = np.asarray(cmap(np.mod(np.maximum(comm, 0), cmap.N)))
    cols[comm < 0] = (0.6, 0.6, 0.6, 1.0)
    return cols


def _hex(rgba: np.ndarray) -> str:
    r, g, b = (int(round(float(c) * 255)) for c in rgba[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


def _node_area(betw: np.ndarray, n_nodes: int) -> np.ndarray:
    """Marker area (points^2) proportional to betweenness, scaled to the network's size."""
    s_max = float(np.clip(8000.0 / n_nodes, 25.0, 500.0))
    s_min = s_max / 10.0
    top = betw.max() if betw.size else 0.0
    return s_min + (s_max - s_min) * (betw / top if top > 0 else np.zeros_like(betw))


# -- static figure -----------------------------------------------------------------------
def _draw_network(ax, g: _Graph, title: str) -> None:
    from matplotlib import colormaps
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    n_nodes = g.layer.size
    e = g.edges
    if len(e):
        s, d = e["src"].to_numpy(), e["dst"].to_numpy()
        vn = e["value_norm"].to_numpy(dtype=np.float64)
        segs = np.stack(
            [np.column_stack([g.x[s], g.y[s]]), np.column_stack([g.x[d], g.y[d]])], axis=1
        )  # (n_edges, 2 points, 2 coords)
        if g.n_edges_total > len(e):
            # only the strongest are drawn: grade them over the range shown, not [0, 1]
            lo, hi = float(vn.min()), float(vn.max())
            t = (vn - lo) / (hi - lo) if hi > lo else np.ones_like(vn)
        else:
            t = vn
        thin = min(1.0, math.sqrt(150.0 / len(e)))  # many edges: thinner lines
        colors = colormaps["Blues"](0.3 + 0.7 * t)
        colors[:, 3] = 0.15 + 0.75 * t if len(e) > 300 else 0.9
        lc = LineCollection(segs, linewidths=(0.3 + 4.0 * t) * thin, colors=colors, zorder=1)
        ax.add_collection(lc)
    colors = _community_colors(g.community)
    area = _node_area(g.betweenness, n_nodes)
    full = ~g.prunable
    ax.scatter(
        g.x[full],
        g.y[full],
        s=area[full],
        c=colors[full],
        edgecolors="black",
        linewidths=0.4 if n_nodes > 100 else 0.8,
        zorder=3,
    )
    if g.prunable.any():
        p = g.prunable
        ax.scatter(
            g.x[p],
            g.y[p],
            s=area[p],
            facecolors="white",
            edgecolors=colors[p],
            linewidths=1.6,
            zorder=3,
        )
        ax.scatter(
            g.x[p], g.y[p], s=area[p] * 0.35, marker="x", c="#c0392b", linewidths=1.0, zorder=4
        )

    last = len(g.sizes) - 1
    for li, n in enumerate(g.sizes):
        label = "input" if li == 0 else "output" if li == last else f"hidden {li}"
        ax.text(li, -0.56, f"{label}\n({n})", ha="center", va="top", fontsize=8)
        if n > MAX_LABELS or (0 < li < last and n > 16):
            continue
        for node in np.flatnonzero(g.layer == li):
            r = math.sqrt(area[node] / math.pi) + 2.0  # marker radius in points, plus a gap
            if li == 0:
                where = {"xytext": (-r, 0), "ha": "right", "va": "center", "fontsize": 7}
            elif li == last:
                where = {"xytext": (r, 0), "ha": "left", "va": "center", "fontsize": 7}
            else:
                where = {"xytext": (0, r), "ha": "center", "va": "bottom", "fontsize": 5.5}
            ax.annotate(g.names[node], (g.x[node], g.y[node]), textcoords="offset points", **where)

    ax.set_xlim(-0.6, last + 0.6)
    ax.set_ylim(-0.62, 0.56)
    ax.set_axis_off()
    k = int(g.community.max()) + 1 if g.community.max() >= 0 else 0
    handles = [
        Line2D([], [], marker="o", ls="", color=_hex(c), label=f"community {i}")
        for i, c in enumerate(_community_colors(np.arange(min(k, 10))))
    ]
    if g.prunable.any():
        handles.append(
            Line2D([], [], marker="o", ls="", mfc="white", mec="black", label="prunable")
        )
    note = "node size ∝ betweenness; edge width ∝ NIF / layer max"
    if g.n_edges_total > len(e):
        note += f"\nstrongest {len(e)} of {g.n_edges_total} edges, graded over their range"
    if handles:
        ax.legend(
            handles=handles,
            loc="upper center",
            fontsize=7,
            frameon=False,
            ncol=min(len(handles), 6),
            bbox_to_anchor=(0.5, 0.0),
            title=note,
            title_fontsize=7,
        )
    else:
        ax.text(0.5, 0.0, note, transform=ax.transAxes, fontsize=7, va="top", ha="center")
    if title:
        ax.set_title(title, fontsize=11)


def _hidden_activations(
    sizes: tuple[int, ...], activations: list[np.ndarray]
) -> list[tuple[int, np.ndarray]]:
    """(layer, array (N, n_l)) for every hidden layer, from per-layer or hidden-only lists."""
    hidden = list(range(1, len(sizes) - 1))
    if len(activations) == len(sizes):
        pairs = [(li, activations[li]) for li in hidden]
    elif len(activations) == len(hidden):
        pairs = list(zip(hidden, activations, strict=True))
    else:
        raise ValidationError(
            f"'activations' must hold one array per layer ({len(sizes)}) or per hidden layer "
            f"({len(hidden)}); got {len(activations)}."
        )
    out = []
    for li, a in pairs:
        arr = np.asarray(a, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != sizes[li]:
            raise ValidationError(
                f"Activations of layer {li} must have shape (n_samples, {sizes[li]}); got "
                f"{arr.shape}."
            )
        out.append((li, arr))
    return out


def _histograms(a: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-neuron histograms over one shared range: counts (n_neurons, bins), edges (bins+1,)."""
    finite = a[np.isfinite(a)]
    lo, hi = np.percentile(finite, [0.5, 99.5]) if finite.size else (0.0, 1.0)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    b = np.clip(((a - lo) / (hi - lo) * bins).astype(np.int64), 0, bins - 1)  # (N, n)
    b[~np.isfinite(a)] = 0
    n_neurons = a.shape[1]
    flat = b + bins * np.arange(n_neurons)[None, :]
    counts = np.bincount(flat.ravel(), minlength=bins * n_neurons).reshape(n_neurons, bins)
    return counts.astype(np.float64), np.linspace(lo, hi, bins + 1)


def _draw_activations(fig, spec, g: _Graph, acts: list[tuple[int, np.ndarray]]) -> None:
    colors = _community_colors(g.community)
    sub = spec.subgridspec(len(acts), 1, hspace=0.45)
    for row, (li, a) in enumerate(acts):
        ax = fig.add_subplot(sub[row, 0])
        n = a.shape[1]
        counts, edges = _histograms(a, bins=40)
        if n <= MAX_RIDGES:
            centers = (edges[:-1] + edges[1:]) / 2
            height = counts / np.maximum(counts.max(axis=1, keepdims=True), 1.0)
            for i in range(n):
                node = g.offsets[li] + i
                base = n - 1 - i  # neuron 0 at the top, as in the network panel
                col = colors[node]
                if g.prunable[node]:
                    ax.plot(centers, base + 0.85 * height[i], color=col, lw=0.8, ls="--")
                else:
                    ax.fill_between(
                        centers, base, base + 0.85 * height[i], color=col, alpha=0.8, lw=0
                    )
            ticks = np.arange(n)
            ax.set_yticks(ticks[:: max(1, n // 8)])
            ax.set_yticklabels(
                [g.names[g.offsets[li] + n - 1 - t] for t in ticks[:: max(1, n // 8)]], fontsize=6
            )
            ax.set_ylim(-0.2, n)
        else:
            dens = np.log1p(counts)
            ax.imshow(
                dens,
                aspect="auto",
                origin="upper",
                cmap="viridis",
                interpolation="nearest",
                extent=(edges[0], edges[-1], n - 0.5, -0.5),
            )
            ax.set_ylabel("neuron", fontsize=7)
        ax.set_title(f"hidden {li}: activations ({a.shape[0]} samples)", fontsize=8)
        ax.tick_params(labelsize=6)
    fig.axes[-1].set_xlabel("activation", fontsize=7)


def plot_flow(
    sizes: Sequence[int],
    edges: pd.DataFrame,
    metrics: pd.DataFrame,
    *,
    names: list[list[str]] | None = None,
    activations: list[np.ndarray] | None = None,
    title: str = "",
    path_stem: Path,
    formats: Sequence[str] = ("png", "svg"),
    max_edges: int = MAX_EDGES,
    dpi: int = 150,
) -> list[Path]:
    """Draw the NIF network (and hidden activations) and save it in every format.

    Parameters
    ----------
    sizes : sequence of int
        Layer sizes ``(n_0, ..., n_L)``.
    edges : DataFrame
        ``records.EDGE_COLUMNS`` (at least src/dst layer and index, value, value_norm).
    metrics : DataFrame
        ``records.NEURON_METRIC_COLUMNS``.
    names : list of list of str, optional
        Neuron names per layer (feature names, ``h{layer}_{idx}``, class names).
    activations : list of ndarray, optional
        Per layer (or per hidden layer) arrays of shape (n_samples, n_l).
    path_stem : Path
        Output path without suffix; ``path_stem.png``, ``path_stem.svg``, ... are written.
    formats : sequence of {"png", "svg", "pdf"}
    max_edges : int
        Draw only the strongest ``max_edges`` edges by ``value_norm``.

    Returns
    -------
    list of Path
        The written files, in the order of ``formats``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fmts = [str(f).lower().lstrip(".") for f in formats]
    bad = [f for f in fmts if f not in _FORMATS]
    if bad or not fmts:
        raise ValidationError(
            f"The 'formats' parameter of plot_flow must be some of {_FORMATS}. Got {list(formats)!r} instead."
        )
    g = _prepare(sizes, edges, metrics, names, max_edges)
    acts = _hidden_activations(g.sizes, activations) if activations is not None else []

    n_max = max(g.sizes)
    height = float(np.clip(0.32 * n_max, 4.5, 10.0))
    net_width = 2.0 + 2.0 * len(g.sizes)
    fig = Figure(figsize=(net_width + (4.5 if acts else 0.0), height), layout="constrained")
    FigureCanvasAgg(fig)
    if acts:
        spec = fig.add_gridspec(1, 2, width_ratios=[net_width, 4.5])
        _draw_network(fig.add_subplot(spec[0, 0]), g, title)
        _draw_activations(fig, spec[0, 1], g, acts)
    else:
        _draw_network(fig.add_subplot(1, 1, 1), g, title)

    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for fmt in fmts:
        path = stem.parent / f"{stem.name}.{fmt}"
        fig.savefig(path, format=fmt, dpi=dpi, metadata=_metadata(fmt))
        out.append(path)
    return out


def _metadata(fmt: str) -> dict[str, str | None]:
    # drop the creation date so that the same input gives the same SVG / PDF bytes
    if fmt == "svg":
        return {"Date": None}
    if fmt == "pdf":
        return {"CreationDate": None}
    return {}


# -- interactive HTML ----------------------------------------------------------------------
def _sig(v: float, digits: int = 6) -> float:
    """A float rounded to ``digits`` significant digits (short tooltips, tiny values kept)."""
    return float(f"{float(v):.{digits}g}")


def _node_props(g: _Graph, node: int) -> dict[str, object]:
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
    for col in _OPTIONAL_EDGE_STATS:
        if col in row.index and pd.notna(row[col]) and np.isfinite(float(row[col])):
            props[col] = _sig(row[col])  # NaN would break the page's JSON
    return props


def _write_neo4j_viz(g: _Graph, title: str, path: Path) -> None:
    from neo4j_viz import Layout, Node, Relationship, VisualizationGraph

    colors = _community_colors(g.community)
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
            color=_hex(colors[i]),
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
    path.write_text(page, encoding="utf-8")


def _write_svg_page(g: _Graph, title: str, path: Path) -> None:
    """A self-contained page: inline SVG, hover tooltips from <title> elements, no script."""
    colors = _community_colors(g.community)
    radius = np.sqrt(_node_area(g.betweenness, g.layer.size) / np.pi)
    w_step, h = 260.0, max(500.0, 22.0 * max(g.sizes))
    px = 80.0 + g.x * w_step
    py = h / 2 - g.y * (h - 80.0)
    width = 160.0 + (len(g.sizes) - 1) * w_step
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8">',
        f"<title>{esc(title or 'NIF network')}</title>",
        "<style>body{font-family:sans-serif;margin:1em} line:hover{stroke:#c0392b}"
        " circle:hover{stroke-width:3}</style></head><body>",
        f"<h2>{esc(title or 'NIF network')}</h2>",
        "<p>Hover a neuron or an edge for its values. Node size: betweenness; colour: "
        "community; hollow: prunable; edge width: NIF / layer max.</p>",
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{h:.0f}">',
    ]
    for _, row in g.edges.iterrows():
        s, d = int(row["src"]), int(row["dst"])
        tip = f"{g.names[s]} → {g.names[d]}\n" + "\n".join(
            f"{k}: {v}" for k, v in _edge_props(row).items()
        )
        parts.append(
            f'<line x1="{px[s]:.1f}" y1="{py[s]:.1f}" x2="{px[d]:.1f}" y2="{py[d]:.1f}" '
            f'stroke="#2b6cb0" stroke-opacity="{0.25 + 0.75 * row["value_norm"]:.2f}" '
            f'stroke-width="{0.5 + 4 * row["value_norm"]:.2f}"><title>{esc(tip)}</title></line>'
        )
    for i in range(g.layer.size):
        tip = "\n".join(f"{k}: {v}" for k, v in _node_props(g, i).items())
        fill = "white" if g.prunable[i] else _hex(colors[i])
        parts.append(
            f'<circle cx="{px[i]:.1f}" cy="{py[i]:.1f}" r="{radius[i]:.1f}" fill="{fill}" '
            f'stroke="{_hex(colors[i]) if g.prunable[i] else "#000"}" stroke-width="1">'
            f"<title>{esc(tip)}</title></circle>"
        )
        if g.sizes[g.layer[i]] <= MAX_LABELS:
            parts.append(
                f'<text x="{px[i]:.1f}" y="{py[i] - radius[i] - 3:.1f}" font-size="10" '
                f'text-anchor="middle">{esc(g.names[i])}</text>'
            )
    parts += ["</svg></body></html>"]
    path.write_text("\n".join(parts), encoding="utf-8")


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
) -> Path:
    """Write the NIF network as one interactive, self-contained HTML page.

    Hovering a neuron shows its name, betweenness, community (and flows, prunable);
    hovering an edge shows its NIF value, ``value_norm`` and, where the run computed
    them, ``ci_low``, ``ci_high``, ``p_value``, ``q_value``.

    Parameters
    ----------
    engine : {"auto", "neo4j-viz", "svg"}
        ``"auto"`` uses neo4j-viz when it is installed and the plain SVG page otherwise.
    max_edges : int
        Keep only the strongest ``max_edges`` edges (a browser chokes on 50 000).

    Returns
    -------
    Path
        ``path``.
    """
    if engine not in ("auto", "neo4j-viz", "svg"):
        raise ValidationError(
            f"The 'engine' parameter of write_html must be 'auto', 'neo4j-viz' or 'svg'. Got {engine!r} instead."
        )
    g = _prepare(sizes, edges, metrics, names, max_edges)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if engine != "svg":
        try:
            import neo4j_viz  # noqa: F401
        except ImportError as e:
            if engine == "neo4j-viz":
                raise ValidationError(
                    "write_html(engine='neo4j-viz') needs the neo4j-viz package: pip install "
                    "'nifgraph[viz]', or use engine='svg'."
                ) from e
            engine = "svg"
        else:
            _write_neo4j_viz(g, title, path)
            return path
    _write_svg_page(g, title, path)
    return path

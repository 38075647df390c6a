"""The paper-style static figure of a NIF network.

:func:`plot_flow` draws the figure of Davis et al. (arXiv:1901.08557, Figures 2-4): the
layered network on the left (one column per layer, node area proportional to betweenness,
colour = Louvain community, edge width and colour = NIF normalised per layer, prunable
neurons hollow and crossed) and, when activations are given, the activation distribution
of every hidden neuron on the right. Wide layers are drawn with only the strongest edges and
without labels, in a few seconds; layers of more than :data:`AGGREGATE_OVER` (64) units are
one square node each, labelled with the unit count, their edges the mean NIF over unit pairs
(the interactive HTML keeps every unit). A DAG model's skip edges -- an edge that bypasses at
least one layer column -- are orange curves routed in lanes above the layers they bypass,
one lane per pair of layers (:func:`nifgraph.render.graph.skip_paths`).

:func:`run_figures` draws a stored run (and, with ``html``, the interactive page of
:mod:`nifgraph.render.html`).

Matplotlib runs through the Agg canvas on a bare :class:`~matplotlib.figure.Figure`, so
nothing here touches pyplot's global state or needs a display.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import ValidationError
from . import graph as _graph
from .files import write_file
from .graph import AGGREGATE_OVER, MAX_EDGES, FlowGraph, prepare
from .html import write_html

if TYPE_CHECKING:  # pragma: no cover
    from ..records import AnalysisRecord, ModelRecord, RunRecord
    from ..store.base import Store

__all__ = ["flow_figure", "plot_flow", "write_html", "run_figures", "MAX_EDGES", "AGGREGATE_OVER"]

#: Hidden layers wider than this show activations as a heat map instead of ridgelines.
MAX_RIDGES = 32
_FORMATS = ("png", "svg", "pdf")


# -- static figure -----------------------------------------------------------------------
def _draw_network(ax, g: FlowGraph, title: str) -> None:
    from matplotlib import colormaps
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    n_nodes = g.layer.size
    e = g.edges
    paths, lane_top = _graph.skip_paths(g)
    if len(e):
        s, d = e["src"].to_numpy(), e["dst"].to_numpy()
        vn = e["value_norm"].to_numpy(dtype=np.float64)
        if g.n_edges_total > len(e):
            # only the strongest are drawn: grade them over the range shown, not [0, 1]
            lo, hi = float(vn.min()), float(vn.max())
            t = (vn - lo) / (hi - lo) if hi > lo else np.ones_like(vn)
        else:
            t = vn
        thin = min(1.0, math.sqrt(150.0 / len(e)))  # many edges: thinner lines
        skip = e["skip"].to_numpy(dtype=bool)
        for mask, cmap, gid in ((~skip, "Blues", "edges"), (skip, "Oranges", "skip-edges")):
            if not mask.any():
                continue
            if gid == "edges":  # straight, between neighbouring columns
                segs = np.stack([np.column_stack([g.x[s[mask]], g.y[s[mask]]]),
                                 np.column_stack([g.x[d[mask]], g.y[d[mask]]])], axis=1)  # (n, 2 points, 2)
            else:  # curves in lanes above the layers they bypass
                segs = [paths[i] for i in np.flatnonzero(mask)]
            colors = colormaps[cmap](0.3 + 0.7 * t[mask])
            colors[:, 3] = 0.15 + 0.75 * t[mask] if len(e) > 300 else 0.9
            lc = LineCollection(segs, linewidths=(0.3 + 4.0 * t[mask]) * thin, colors=colors, zorder=1)
            lc.set_gid(gid)
            ax.add_collection(lc)
        units = g.units if g.units is not None else np.ones(n_nodes, dtype=np.int64)
        for i in np.flatnonzero((units[s] > 1) & (units[d] > 1)):  # block → block: its mean, labelled
            row = e.iloc[i]
            at = paths[i][len(paths[i]) // 2] if skip[i] else ((g.x[s[i]] + g.x[d[i]]) / 2, (g.y[s[i]] + g.y[d[i]]) / 2)
            ax.text(at[0], at[1] + 0.015, f"mean {row['value']:.3g} nats\nover {int(row['n_edges']):,} edges",
                    ha="center", va="bottom", fontsize=6, color="#444", zorder=5, gid="block-edge-label",
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.7})
    colors = _graph.community_colors(g.community)
    area = _graph.node_area(g.betweenness, n_nodes)
    block = g.units > 1 if g.units is not None else np.zeros(n_nodes, bool)
    full = ~g.prunable & ~block
    ax.scatter(g.x[full], g.y[full], s=area[full], c=colors[full], edgecolors="black",
               linewidths=0.4 if n_nodes > 100 else 0.8, zorder=3)
    if (p := g.prunable & ~block).any():
        ax.scatter(g.x[p], g.y[p], s=area[p], facecolors="white", edgecolors=colors[p], linewidths=1.6, zorder=3)
        ax.scatter(g.x[p], g.y[p], s=area[p] * 0.35, marker="x", c="#c0392b", linewidths=1.0, zorder=4)
    if block.any():  # an aggregated layer: one square, labelled with its unit count
        sq = ax.scatter(g.x[block], g.y[block], s=np.maximum(area[block], 150.0) * 2.0, marker="s",
                        c=np.where(g.prunable[block][:, None], 1.0, colors[block]), edgecolors="black",
                        linewidths=1.0, zorder=3)
        sq.set_gid("aggregated-nodes")

    last = len(g.sizes) - 1
    unit_sizes = np.bincount(g.layer, weights=g.units, minlength=len(g.sizes)).astype(int) if g.units is not None else g.sizes
    for li, n in enumerate(g.sizes):
        if g.layer_names:
            label = g.layer_names[li]
        else:
            label = "input" if li == 0 else "output" if li == last else f"hidden {li}"
        ax.text(li, -0.56, f"{label}\n({unit_sizes[li]})", ha="center", va="top", fontsize=8)
        if g.aggregated and g.aggregated[li]:
            node = int(np.flatnonzero(g.layer == li)[0])
            ax.annotate(g.names[node], (g.x[node], g.y[node]), textcoords="offset points", xytext=(0, -16),
                        ha="center", va="top", fontsize=7, fontweight="bold", gid="aggregated-label",
                        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.85}, zorder=6)
            continue
        if n > _graph.MAX_LABELS or (0 < li < last and n > 16):
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
    ax.set_ylim(-0.62, max(0.56, lane_top + 0.08))
    ax.set_axis_off()
    k = int(g.community.max()) + 1 if g.community.max() >= 0 else 0
    handles = [
        Line2D([], [], marker="o", ls="", color=_graph.hex_color(c), label=f"community {i}")
        for i, c in enumerate(_graph.community_colors(np.arange(min(k, 10))))
    ]
    if g.prunable.any():
        handles.append(
            Line2D([], [], marker="o", ls="", mfc="white", mec="black", label="prunable")
        )
    if g.n_skip:
        handles.append(Line2D([], [], color=colormaps["Oranges"](0.8), lw=2, label="skip edge (bypasses layers)"))
    if block.any():
        handles.append(Line2D([], [], marker="s", ls="", mfc="#999", mec="black", label="aggregated layer"))
    note = "node size ∝ betweenness; edge width ∝ NIF / layer max"
    if block.any():
        note += "\nsquares: a whole layer as one node; their edges: mean NIF over unit pairs"
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


def _draw_activations(fig, spec, g: FlowGraph, acts: list[tuple[int, np.ndarray]]) -> None:
    colors = _graph.community_colors(g.community)
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


def flow_figure(
    sizes: Sequence[int],
    edges: pd.DataFrame,
    metrics: pd.DataFrame,
    *,
    names: list[list[str]] | None = None,
    activations: list[np.ndarray] | None = None,
    title: str = "",
    max_edges: int = MAX_EDGES,
    layer_names: Sequence[str] | None = None,
    aggregate_over: int | None = AGGREGATE_OVER,
):
    """The figure of :func:`plot_flow` as a matplotlib ``Figure`` (Agg canvas), not saved.

    Its network axes hold the ordinary edges as a ``LineCollection`` with gid ``"edges"``
    (straight segments), the skip edges as one with gid ``"skip-edges"`` (curves routed above
    the layers they bypass), aggregated layers as a scatter with gid ``"aggregated-nodes"``
    and their labels as texts with gid ``"aggregated-label"``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    g = prepare(sizes, edges, metrics, names, max_edges, aggregate_over=aggregate_over, layer_names=layer_names)
    units = g if not any(g.aggregated) else prepare(sizes, edges, metrics, names, 1)  # unit colours for the activations
    acts = _hidden_activations(units.sizes, activations) if activations is not None else []

    n_max = max(g.sizes)
    height = float(np.clip(0.32 * n_max, 4.5, 10.0))
    net_width = 2.0 + 2.0 * len(g.sizes)
    fig = Figure(figsize=(net_width + (4.5 if acts else 0.0), height), layout="constrained")
    FigureCanvasAgg(fig)
    if acts:
        spec = fig.add_gridspec(1, 2, width_ratios=[net_width, 4.5])
        _draw_network(fig.add_subplot(spec[0, 0]), g, title)
        _draw_activations(fig, spec[0, 1], units, acts)
    else:
        _draw_network(fig.add_subplot(1, 1, 1), g, title)
    return fig


def plot_flow(
    sizes: Sequence[int],
    edges: pd.DataFrame,
    metrics: pd.DataFrame,
    *,
    path_stem: Path,
    formats: Sequence[str] = ("png", "svg"),
    dpi: int = 150,
    **figure: Any,
) -> list[Path]:
    """Draw the NIF network (and hidden activations) and save it in every format.

    Parameters
    ----------
    sizes : sequence of int
        Layer sizes ``(n_0, ..., n_L)``.
    edges : DataFrame
        ``records.EDGE_COLUMNS`` (at least src/dst layer and index, value, value_norm); an
        edge may join any earlier layer to a later one (a DAG model's skip: drawn as a curve
        above the layers it bypasses, in orange).
    metrics : DataFrame
        ``records.NEURON_METRIC_COLUMNS``.
    names : list of list of str, optional
        Neuron names per layer (feature names, ``h{layer}_{idx}``, class names).
    activations : list of ndarray, optional
        Per layer (or per hidden layer) arrays of shape (n_samples, n_l).
    path_stem : Path
        Output path without suffix; ``path_stem.png``, ``path_stem.svg``, ... are written.
    formats : sequence of {"png", "svg", "pdf"}
    **figure
        ``names``, ``activations``, ``title``, ``max_edges``, ``layer_names``,
        ``aggregate_over``: passed to :func:`flow_figure`, as follows.
    max_edges : int
        Draw only the strongest ``max_edges`` edges by ``value_norm``.
    layer_names : sequence of str, optional
        One caption per layer (a DAG model's layer names) instead of input / hidden k / output.
    aggregate_over : int or None
        Layers of more units than this (default 64) are drawn as one square node labelled
        with the unit count; their edges carry the mean NIF over unit pairs
        (:mod:`nifgraph.render.graph`). ``None`` draws every unit.

    Returns
    -------
    list of Path
        The written files, in the order of ``formats``.
    """
    fmts = [str(f).lower().lstrip(".") for f in formats]
    bad = [f for f in fmts if f not in _FORMATS]
    if bad or not fmts:
        raise ValidationError(
            f"The 'formats' parameter of plot_flow must be some of {_FORMATS}. Got {list(formats)!r} instead."
        )
    fig = flow_figure(sizes, edges, metrics, **figure)
    stem = Path(path_stem)
    out = []
    for fmt in fmts:
        path = stem.parent / f"{stem.name}.{fmt}"
        write_file(path, lambda tmp, fmt=fmt: fig.savefig(tmp, format=fmt, dpi=dpi, metadata=_metadata(fmt)))
        out.append(path)
    return out


def _metadata(fmt: str) -> dict[str, str | None]:
    # drop the creation date so that the same input gives the same SVG / PDF bytes
    if fmt == "svg":
        return {"Date": None}
    if fmt == "pdf":
        return {"CreationDate": None}
    return {}


def run_figures(
    store: Store, model: ModelRecord, run: RunRecord, analysis: AnalysisRecord, out: Path, html: bool = False,
    neo4j_view: bool = False,
) -> list[Path]:
    """The figure of a stored, analysed run (PNG + SVG, the HTML page with ``html``, Neo4j's
    graph view (neo4j-viz, layers left to right) with ``neo4j_view``), with the activations of
    its hidden neurons on the run's samples."""
    from ..records import layer_table
    from ..stored import load_model_network, model_dataset

    edges = store.get_edges(run.run_id)
    neurons = store.get_neurons(model.model_id)
    names = [
        neurons[neurons["layer"] == layer].sort_values("idx")["name"].astype(str).tolist()
        for layer in range(model.n_layers)
    ]
    ds = model_dataset(model)
    acts = load_model_network(model, store).forward_layers(ds.split(run.split)[0])
    stem = out / f"{model.model_id}_{run.run_id}"
    title = f"{model.name} · NIF ({run.estimator}) · acc {model.test_accuracy:.3f}"
    layer_names = [la["name"] for la in layer_table(model)] if model.is_dag else None
    paths = plot_flow(
        model.layer_sizes, edges, analysis.neuron_metrics, names=names, activations=acts, title=title, path_stem=stem,
        layer_names=layer_names,
    )
    if html:  # every unit: the detail the static figure aggregates
        paths.append(write_html(model.layer_sizes, edges, analysis.neuron_metrics, names=names,
                                path=stem.with_suffix(".html"), title=title, layer_names=layer_names))
    if neo4j_view:
        paths.append(write_html(
            model.layer_sizes, edges, analysis.neuron_metrics, names=names, path=stem.with_suffix(".neo4j.html"),
            title=title, engine="neo4j-viz",
        ))
    return list(paths)

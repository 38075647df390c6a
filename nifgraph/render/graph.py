"""The drawable form of a NIF network, shared by the static figure and the HTML page: node
positions, community colours, node areas by betweenness, the strongest edges.

Layers are columns in topological order. An edge that jumps over at least one column is a
*skip* edge (a residual or concatenated path of a DAG model; the export's ``skip`` flag), so
drawings can route it around the layers it bypasses. With ``aggregate_over``, every layer of
more units than that becomes one drawn node (the static figure of a big DAG), and the edges
between two drawn nodes become one edge whose ``value`` and ``value_norm`` are the *means*
over all their unit pairs (zero edges included; ``value_sum`` keeps the sum, ``n_edges`` the
number of unit pairs). The mean, not the sum: a summed block of 128 × 128 edges would
outweigh every single edge by its size alone, while the mean stays on the scale of one edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..errors import ValidationError
from ..flowgraph import layer_offsets

__all__ = [
    "FlowGraph", "prepare", "community_colors", "hex_color", "node_area", "MAX_EDGES", "MAX_LABELS", "OPTIONAL_EDGE_STATS",
    "AGGREGATE_OVER", "skip_paths",
]


#: Edges drawn at most (the strongest by ``value_norm``); more only blurs the figure.
MAX_EDGES = 2000
#: Layers wider than this get no neuron labels.
MAX_LABELS = 40
#: Layers of more units than this are one aggregated node in the static figure.
AGGREGATE_OVER = 64
_EDGE_NEEDS = ("src_layer", "src_idx", "dst_layer", "dst_idx", "value", "value_norm")
_METRIC_NEEDS = ("layer", "idx", "betweenness", "community", "prunable")
#: Edge statistics shown when the run has them.
OPTIONAL_EDGE_STATS = ("ci_low", "ci_high", "p_value", "q_value")



# -- shared preparation ------------------------------------------------------------------
@dataclass(frozen=True)
class FlowGraph:
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
    edges: pd.DataFrame  # selected edges, weakest first, with flat "src", "dst", "skip", "n_edges"
    n_edges_total: int
    units: np.ndarray | None = None  # (n_nodes,) units a drawn node stands for (1; a layer's size when aggregated)
    aggregated: tuple[bool, ...] = ()  # per layer: drawn as one node
    layer_names: tuple[str, ...] = ()  # per layer, when the model names them (DAG models)

    @property
    def n_skip(self) -> int:
        return int(self.edges["skip"].sum()) if len(self.edges) else 0


def check_columns(frame: pd.DataFrame, needs: Sequence[str], what: str) -> None:
    missing = [c for c in needs if c not in frame.columns]
    if missing:
        raise ValidationError(
            f"The {what} table lacks column(s) {missing}: pass the table of "
            f"records.{'EDGE' if what == 'edge' else 'NEURON_METRIC'}_COLUMNS."
        )


def default_names(sizes: Sequence[int]) -> list[list[str]]:
    last = len(sizes) - 1
    return [
        [f"x{i}" if li == 0 else f"y{i}" if li == last else f"h{li}_{i}" for i in range(n)]
        for li, n in enumerate(sizes)
    ]


def _column_y(sizes: Sequence[int], layer: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """One column per layer, nodes evenly spaced and centred, idx 0 at the top; a narrow layer
    is spread over at least (n - 1) / 16 of the height so its labels stay legible."""
    n_arr = np.asarray(sizes, dtype=np.float64)
    spread = np.minimum(1.0, np.maximum((n_arr - 1) / max(max(sizes) - 1, 1), (n_arr - 1) / 16))
    step = np.where(n_arr > 1, spread / np.maximum(n_arr - 1, 1), 0.0)  # (L + 1,)
    return ((n_arr[layer] - 1) / 2.0 - idx) * step[layer]


def prepare(
    sizes: Sequence[int],
    edges: pd.DataFrame,
    metrics: pd.DataFrame,
    names: list[list[str]] | None,
    max_edges: int,
    *,
    aggregate_over: int | None = None,
    layer_names: Sequence[str] | None = None,
) -> FlowGraph:
    """The drawable graph: every unit a node, the strongest ``max_edges`` edges; with
    ``aggregate_over``, layers of more units are one node each (module docstring)."""
    sizes = tuple(int(s) for s in sizes)
    off = layer_offsets(sizes)
    n = int(off[-1])
    check_columns(edges, _EDGE_NEEDS, "edge")
    check_columns(metrics, _METRIC_NEEDS, "neuron metric")
    if names is None:
        names = default_names(sizes)
    elif len(names) != len(sizes) or any(len(a) != b for a, b in zip(names, sizes, strict=False)):
        raise ValidationError(
            f"'names' must hold one list of names per layer with sizes {list(sizes)}; got "
            f"lengths {[len(a) for a in names]}."
        )
    if layer_names is not None and len(layer_names) != len(sizes):
        raise ValidationError(f"'layer_names' must hold one name per layer ({len(sizes)}); got {len(layer_names)}.")
    layer = np.repeat(np.arange(len(sizes)), sizes)
    idx = np.arange(n) - off[layer]

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
    if ((dl <= sl) | (sl < 0) | (dl >= len(sizes))).any():  # forward: consecutive, or a skip of a DAG model
        raise ValidationError(
            f"The edge table has edges that do not go forward between layers of {list(sizes)}: "
            "pass the edges of one run of this model."
        )
    src = off[sl] + e["src_idx"].to_numpy(dtype=np.int64)
    dst = off[dl] + e["dst_idx"].to_numpy(dtype=np.int64)
    if ((src >= off[sl + 1]) | (dst >= off[dl + 1])).any():
        raise ValidationError(
            f"The edge table has neuron indices outside layer sizes {list(sizes)}: pass the "
            "edges of one run of this model."
        )
    e = e.assign(src=src, dst=dst, skip=(dl - sl) > 1, n_edges=1)
    g = FlowGraph(
        sizes=sizes, offsets=off, layer=layer, idx=idx, x=layer.astype(np.float64), y=_column_y(sizes, layer, idx),
        names=[str(s) for layer_names_ in names for s in layer_names_], betweenness=betw, community=comm,
        prunable=prun, extra=extra, edges=e, n_edges_total=len(e), units=np.ones(n, dtype=np.int64),
        aggregated=(False,) * len(sizes), layer_names=tuple(str(s) for s in layer_names or ()),
    )
    if aggregate_over is not None and max(sizes) > aggregate_over:
        g = _aggregate(g, aggregate_over)
    return _strongest(g, max_edges)


def _strongest(g: FlowGraph, max_edges: int) -> FlowGraph:
    """``g`` with only its ``max_edges`` strongest edges (by ``value_norm``), weakest first."""
    e = g.edges
    total = len(e)
    if total > max_edges:
        vn = e["value_norm"].to_numpy(dtype=np.float64)
        keep = np.argpartition(-vn, max_edges - 1)[:max_edges]
        e = e.iloc[keep]
    e = e.sort_values("value_norm", kind="stable").reset_index(drop=True)
    return replace(g, edges=e, n_edges_total=total)


def _aggregate(g: FlowGraph, over: int) -> FlowGraph:
    """Every layer of more than ``over`` units drawn as one node: its label names the layer
    and its unit count; its size is its most central unit's betweenness, its colour its
    units' most common community; hollow when every unit is prunable. Edges between two drawn
    nodes are merged: mean ``value`` and ``value_norm`` over all unit pairs (zeros included),
    ``value_sum``, ``n_edges`` (unit pairs)."""
    agg = tuple(bool(s > over) for s in g.sizes)
    drawn_sizes = [1 if a else s for a, s in zip(agg, g.sizes, strict=True)]
    d_off = layer_offsets(drawn_sizes)
    node_of = d_off[g.layer] + np.where(np.asarray(agg)[g.layer], 0, g.idx)  # unit → drawn node
    m = int(d_off[-1])
    layer = np.repeat(np.arange(len(drawn_sizes)), drawn_sizes)
    idx = np.arange(m) - d_off[layer]
    units = np.bincount(node_of, minlength=m).astype(np.int64)
    betw = np.zeros(m)
    np.maximum.at(betw, node_of, g.betweenness)
    n_prun = np.bincount(node_of, weights=g.prunable.astype(np.float64), minlength=m).astype(np.int64)
    comm = np.full(m, -1, dtype=np.int64)
    names = [""] * m
    for node in range(m):
        members = np.flatnonzero(node_of == node) if units[node] > 1 else [g.offsets[layer[node]] + idx[node]]
        li = int(layer[node])
        if units[node] == 1 and not agg[li]:
            comm[node], names[node] = g.community[members[0]], g.names[members[0]]
            continue
        known = g.community[members][g.community[members] >= 0]
        comm[node] = int(np.bincount(known).argmax()) if known.size else -1
        title = g.layer_names[li] if g.layer_names else ("input" if li == 0 else f"layer {li}")
        names[node] = f"{title}: {units[node]} units" + (f", {n_prun[node]} prunable" if n_prun[node] else "")
    extra = {}
    for col, arr in g.extra.items():
        tot = np.zeros(m)
        np.add.at(tot, node_of, np.nan_to_num(arr))
        extra[col] = tot
    e = g.edges
    s, d = node_of[e["src"].to_numpy()], node_of[e["dst"].to_numpy()]
    key = pd.DataFrame({"src": s, "dst": d, "value": e["value"].to_numpy(dtype=np.float64),
                        "value_norm": e["value_norm"].to_numpy(dtype=np.float64)})
    merged = key.groupby(["src", "dst"], sort=True, as_index=False).sum()
    pairs = units[merged["src"].to_numpy()] * units[merged["dst"].to_numpy()]
    sl, dl = layer[merged["src"].to_numpy()], layer[merged["dst"].to_numpy()]
    merged = merged.assign(
        value_sum=merged["value"], value=merged["value"] / pairs, value_norm=merged["value_norm"] / pairs,
        n_edges=pairs, src_layer=sl, dst_layer=dl, src_idx=idx[merged["src"].to_numpy()],
        dst_idx=idx[merged["dst"].to_numpy()], skip=(dl - sl) > 1,
    )
    return replace(
        g, sizes=tuple(drawn_sizes), offsets=d_off, layer=layer, idx=idx, x=layer.astype(np.float64),
        y=_column_y(drawn_sizes, layer, idx), names=names, betweenness=betw, community=comm,
        prunable=n_prun == units, extra=extra, edges=merged, n_edges_total=len(merged), units=units, aggregated=agg,
    )


#: A skip edge leaves and reaches its node over this much of a column's width.
_RAMP = 0.4


def skip_paths(g: FlowGraph, points: int = 8) -> tuple[list[np.ndarray], float]:
    """The route of every skip edge of ``g.edges`` (in its row order, ``None`` for the others)
    and the highest y used. A skip edge rises from its source to a *lane* above every column,
    runs along it over the layers it bypasses and comes down to its target (smooth ramps of
    :data:`_RAMP` column widths, so it never crosses a bypassed column's nodes); each pair of
    layers has its own lane, shorter skips lower. Returns ``(paths, top)``: ``paths[i]`` is an
    ``(n_points, 2)`` array of (x, y)."""
    e = g.edges
    top = float(g.y.max()) if g.y.size else 0.5
    if not len(e) or not e["skip"].any():
        return [None] * len(e), top
    skip = e[e["skip"].to_numpy(dtype=bool)]
    pairs = sorted({(int(a), int(b)) for a, b in zip(skip["src_layer"], skip["dst_layer"], strict=True)},
                   key=lambda p: (p[1] - p[0], p[0]))
    lane = {p: top + 0.1 + 0.07 * k for k, p in enumerate(pairs)}
    ramp = (3 - 2 * np.linspace(0, 1, points)) * np.linspace(0, 1, points) ** 2  # smoothstep, 0 → 1
    out: list[np.ndarray | None] = []
    for row in e.itertuples(index=False):
        if not row.skip:
            out.append(None)
            continue
        x0, y0, x1, y1 = g.x[row.src], g.y[row.src], g.x[row.dst], g.y[row.dst]
        h = lane[(int(row.src_layer), int(row.dst_layer))]
        rise = np.column_stack([x0 + _RAMP * np.linspace(0, 1, points), y0 + (h - y0) * ramp])
        fall = np.column_stack([x1 - _RAMP * np.linspace(1, 0, points), h + (y1 - h) * ramp])
        out.append(np.vstack([rise, fall]))
    return out, max(lane.values())


def community_colors(comm: np.ndarray) -> np.ndarray:
    """RGBA per node: tab10 / tab20 by community, grey when unknown. Shape (n_nodes, 4)."""
    from matplotlib import colormaps

    k = int(comm.max()) + 1 if comm.size and comm.max() >= 0 else 0
    cmap = colormaps["tab10" if k <= 10 else "tab20"]
    cols = np.asarray(cmap(np.mod(np.maximum(comm, 0), cmap.N)))
    cols[comm < 0] = (0.6, 0.6, 0.6, 1.0)
    return cols


def hex_color(rgba: np.ndarray) -> str:
    r, g, b = (int(round(float(c) * 255)) for c in rgba[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


def node_area(betw: np.ndarray, n_nodes: int) -> np.ndarray:
    """Marker area (points^2) proportional to betweenness, scaled to the network's size."""
    s_max = float(np.clip(8000.0 / n_nodes, 25.0, 500.0))
    s_min = s_max / 10.0
    top = betw.max() if betw.size else 0.0
    return s_min + (s_max - s_min) * (betw / top if top > 0 else np.zeros_like(betw))



"""The drawable form of a NIF network, shared by the static figure and the HTML page: node
positions, community colours, node areas by betweenness, the strongest edges."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ValidationError
from ..flowgraph import layer_offsets

__all__ = ["FlowGraph", "prepare", "community_colors", "hex_color", "node_area", "MAX_EDGES", "MAX_LABELS", "OPTIONAL_EDGE_STATS"]


#: Edges drawn at most (the strongest by ``value_norm``); more only blurs the figure.
MAX_EDGES = 2000
#: Layers wider than this get no neuron labels.
MAX_LABELS = 40
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
    edges: pd.DataFrame  # selected edges, weakest first, with flat "src" and "dst"
    n_edges_total: int


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


def prepare(
    sizes: Sequence[int],
    edges: pd.DataFrame,
    metrics: pd.DataFrame,
    names: list[list[str]] | None,
    max_edges: int,
) -> FlowGraph:
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
    e = e.assign(src=src, dst=dst)
    total = len(e)
    if total > max_edges:
        vn = e["value_norm"].to_numpy(dtype=np.float64)
        keep = np.argpartition(-vn, max_edges - 1)[:max_edges]
        e = e.iloc[keep]
    e = e.sort_values("value_norm", kind="stable").reset_index(drop=True)
    return FlowGraph(
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



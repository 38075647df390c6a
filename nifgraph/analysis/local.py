"""Graph analysis of a NIF network: centrality, communities, attribution, pruning.

Pure functions: numpy arrays in, numpy arrays or frozen dataclasses out; no I/O, no
printing, no store. This module is the in-process engine of the embedded store and the
reference that the Neo4j / GDS engine is checked against (betweenness and attribution to
1e-6, Louvain modularity within 0.02).

The network
-----------
A trained MLP with layer sizes ``(n_0, ..., n_L)`` (inputs are layer 0, classes layer L)
has ``L`` NIF matrices ``mats[l]`` of shape ``(n_l, n_{l+1})``: the mutual information in
nats carried by the edge from neuron ``i`` of layer ``l`` to neuron ``k`` of layer ``l+1``
(Davis et al., "NIF: A Framework for Quantifying Neural Information Flow in Deep
Networks", arXiv:1901.08557). The flow graph is a layered DAG; its nodes are numbered flat
by layer: ``node = offset[layer] + idx`` with ``offset = layer_offsets(sizes)``.

Cost transform (shortest paths)
-------------------------------
igraph and GDS shortest paths (and so betweenness) read an edge weight as a *cost*, but
NIF is a *strength*. Each matrix is divided by its own maximum (``value_norm`` in
``(0, 1]``), edges with value 0 are dropped (no information, no edge), and the cost is
``-ln(value_norm)``. A path's cost is then minus the log of the product of its normalised
values, so the shortest path is the path of largest NIF product -- the quantity that
:func:`attribution` sums over all paths. Per-layer normalisation multiplies every
input-to-output path's product by the same constant, so it does not change which path is
strongest; it makes the strongest edge of each layer pair cost 0. ``1/w`` would rank
paths by a sum of reciprocals, which has no meaning for information and lets one weak
edge dominate a path (the GDS client maintainers' warning, issue #318).

igraph rejects zero-cost edges in betweenness, so :func:`betweenness` hands igraph
``cost + 1``. Every path between two given nodes of a layered DAG has the same number of
edges, so adding a constant to every cost adds the same amount to each of them: shortest
paths and their counts, hence betweenness, are unchanged; the GDS projection computes the
same ``1 - ln(value_norm)`` (``cypher/gds/project_directed.cypher``).

Communities
-----------
:func:`louvain` runs on the undirected graph weighted by the *raw* NIF value in nats (not
``value_norm``). Modularity is invariant to one global scale, but per-layer normalisation
would stretch a layer pair that carries almost no information to the same weight as the
strongest pair, and then communities would follow noise. Raw values keep "a layer pair
that carries more information binds its neurons more tightly". The Neo4j store projects
the same ``value`` property.

Pruning rule
------------
A *hidden* neuron (not an input, not a class) is prunable when it is dead (never active
on the data), or every incoming edge carries at most ``threshold`` nats, or every
outgoing edge does: information cannot pass through it. The default threshold, 0.02
nats, is about the noise floor of the MINE estimator on independent pairs (its estimates
spread over 0.01-0.06 nats around a true 0); below it an edge cannot be told from zero.
"""

from __future__ import annotations

import numbers
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ValidationError
from ..flowgraph import (
    Mats,
    as_mats,
    cost_transform,
    edge_list,
    layer_of,
    layer_offsets,
    normalize_per_layer,
    sizes_of,
)
from ..records import ATTRIBUTION_COLUMNS, NEURON_METRIC_COLUMNS
from ..settings import DEFAULT_THRESHOLD

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "layer_offsets",
    "sizes_of",
    "normalize_per_layer",
    "cost_transform",
    "edge_list",
    "betweenness",
    "louvain",
    "attribution",
    "flows",
    "prunable",
    "path_strengths",
    "Analysis",
    "analyze",
    "prunable_mask",
    "relabel",
    "frozen",
    "DEFAULT_THRESHOLD",
]




# -- algorithms ------------------------------------------------------------------------
def _igraph():
    import igraph

    return igraph


def betweenness(mats: Mats) -> np.ndarray:
    """Weighted betweenness of every neuron on the directed flow graph.

    Weights are the costs ``-ln(value_norm)`` (zero edges dropped), so shortest paths are
    the paths of largest NIF product. Counts are raw (not normalised), as Neo4j GDS
    reports them for a directed graph.

    Returns
    -------
    ndarray, shape (n_nodes,)
    """
    ms = as_mats(mats)
    sizes = sizes_of(ms)
    n = int(layer_offsets(sizes)[-1])
    src, dst, _, _, cost = edge_list(ms, drop_zero=True)
    if src.size == 0:
        return np.zeros(n)
    ig = _igraph()
    g = ig.Graph(n=n, edges=np.column_stack([src, dst]).tolist(), directed=True)
    # + 1: igraph refuses zero costs; a constant shift keeps every shortest path of a
    # layered DAG (all u -> v paths have the same length), see the module docstring.
    return np.asarray(g.betweenness(directed=True, weights=(cost + 1.0).tolist()), dtype=np.float64)


def _undirected(mats: Mats, normalized: bool):
    ms = as_mats(mats)
    n = int(layer_offsets(sizes_of(ms))[-1])
    src, dst, value, value_norm, _ = edge_list(ms, drop_zero=True)
    w = value_norm if normalized else value
    g = _igraph().Graph(n=n, edges=np.column_stack([src, dst]).tolist(), directed=False)
    return g, w.tolist()


def relabel(membership: Sequence[int]) -> np.ndarray:
    """Community labels 0..c-1 in order of first appearance."""
    m = np.asarray(membership, dtype=np.int64)
    _, first, inverse = np.unique(m, return_index=True, return_inverse=True)
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    return rank[inverse.ravel()]


def louvain(
    mats: Mats, *, resolution: float = 1.0, seed: int = 0, normalized: bool = False
) -> tuple[np.ndarray, float]:
    """Louvain communities (igraph ``community_multilevel``) of the undirected flow graph.

    Parameters
    ----------
    mats : list of ndarray, each (n_l, n_{l+1})
    resolution : float
        Modularity resolution gamma (> 0); larger gives more, smaller communities.
    seed : int
        Seed of Python's ``random`` module, which igraph draws from; the global state is
        restored afterwards.
    normalized : bool
        Weight by ``value_norm`` instead of the raw value in nats (the default, see the
        module docstring).

    Returns
    -------
    membership : ndarray of int64, shape (n_nodes,)
        Community of every node, numbered 0..c-1 in order of first appearance. A neuron
        with no non-zero edge is alone in its community.
    modularity : float
        Modularity of that partition with the same weights and resolution; NaN when the
        graph has no non-zero edge.
    """
    if not (isinstance(resolution, numbers.Real) and np.isfinite(resolution) and resolution > 0):
        raise ValidationError(
            f"The 'resolution' parameter of louvain must be a positive number. Got {resolution!r} instead."
        )
    g, w = _undirected(mats, normalized)
    if g.ecount() == 0:
        return np.arange(g.vcount(), dtype=np.int64), float("nan")
    state = random.getstate()
    try:
        random.seed(seed)
        clusters = g.community_multilevel(weights=w, resolution=float(resolution))
    finally:
        random.setstate(state)
    membership = relabel(clusters.membership)
    q = g.modularity(membership.tolist(), weights=w, resolution=float(resolution), directed=False)
    return membership, float(q)


def attribution(mats: Mats, *, normalized: bool = False) -> np.ndarray:
    """Input-to-class attribution: the sum over all paths of the product of NIF values.

    Equals ``mats[0] @ mats[1] @ ... @ mats[L-1]`` (one matrix product per layer, never
    an enumeration of paths).

    Returns
    -------
    ndarray, shape (n_0, n_L)
    """
    ms = normalize_per_layer(mats) if normalized else as_mats(mats)
    out = ms[0].copy()
    for m in ms[1:]:
        out = out @ m
    return out


def flows(mats: Mats) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-node sums and maxima of incoming and outgoing NIF (0 where a node has none).

    Returns
    -------
    in_flow, out_flow, max_in, max_out : ndarray, shape (n_nodes,)
    """
    ms = as_mats(mats)
    sizes = sizes_of(ms)
    off = layer_offsets(sizes)
    n = int(off[-1])
    in_flow, out_flow, max_in, max_out = (np.zeros(n) for _ in range(4))
    for li, m in enumerate(ms):
        out_flow[off[li] : off[li + 1]] = m.sum(axis=1)
        max_out[off[li] : off[li + 1]] = m.max(axis=1)
        in_flow[off[li + 1] : off[li + 2]] = m.sum(axis=0)
        max_in[off[li + 1] : off[li + 2]] = m.max(axis=0)
    return in_flow, out_flow, max_in, max_out


def prunable(
    mats: Mats, dead: np.ndarray | None = None, *, threshold: float = DEFAULT_THRESHOLD
) -> np.ndarray:
    """Hidden neurons that pass no information (rule in the module docstring).

    Parameters
    ----------
    dead : ndarray of bool, shape (n_nodes,), optional
        Neurons never active on the data.
    threshold : float
        Nats; an edge carrying at most this much counts as no information.

    Returns
    -------
    ndarray of bool, shape (n_nodes,)
        Always False for inputs and classes.
    """
    if not (isinstance(threshold, numbers.Real) and np.isfinite(threshold) and threshold >= 0):
        raise ValidationError(
            f"The 'threshold' parameter of prunable must be a non-negative number of nats. Got {threshold!r} instead."
        )
    ms = as_mats(mats)
    sizes = sizes_of(ms)
    off = layer_offsets(sizes)
    n = int(off[-1])
    _, _, max_in, max_out = flows(ms)
    return prunable_mask(off, _dead_mask(dead, n), max_in, max_out, threshold)


def prunable_mask(
    offsets: np.ndarray, dead: np.ndarray, max_in: np.ndarray, max_out: np.ndarray, threshold: float
) -> np.ndarray:
    """The prunable rule on per-node arrays (shape (n_nodes,)), shared by every engine: a
    hidden neuron that is dead, or whose strongest incoming or outgoing edge carries at most
    ``threshold`` nats. ``offsets`` from :func:`layer_offsets`."""
    hidden = np.zeros(int(offsets[-1]), dtype=bool)
    hidden[offsets[1] : offsets[-2]] = True
    return hidden & (np.asarray(dead, dtype=bool) | (max_in <= threshold) | (max_out <= threshold))


def _dead_mask(dead: np.ndarray | None, n: int) -> np.ndarray:
    if dead is None:
        return np.zeros(n, dtype=bool)
    d = np.asarray(dead)
    if d.shape != (n,):
        raise ValidationError(
            f"'dead' must be one flag per neuron, shape ({n},); got shape {d.shape}: "
            "flatten the per-layer flags in layer order."
        )
    return d.astype(bool)


def path_strengths(
    mats: Mats, src_feature: int, dst_class: int, top: int = 5
) -> list[tuple[list[int], float]]:
    """The ``top`` strongest paths from one input to one class, by product of NIF values.

    k-best dynamic programme over layers: for every neuron it keeps the ``top`` best
    partial paths from the input, so the cost is O(top * sum_l n_l * n_{l+1}), not the
    number of paths. Paths through a zero edge carry nothing and are not returned, so
    fewer than ``top`` paths may come back. Ties are broken by lower neuron index.

    Returns
    -------
    list of (path, product), strongest first
        ``path[l]`` is the neuron index *within layer l* (``path[0] == src_feature``,
        ``path[-1] == dst_class``); flat ids are ``layer_offsets(sizes)[l] + path[l]``.
    """
    ms = as_mats(mats)
    sizes = sizes_of(ms)
    if not 0 <= int(src_feature) < sizes[0]:
        raise ValidationError(
            f"src_feature must be an input index in [0, {sizes[0]}); got {src_feature!r}."
        )
    if not 0 <= int(dst_class) < sizes[-1]:
        raise ValidationError(
            f"dst_class must be a class index in [0, {sizes[-1]}); got {dst_class!r}."
        )
    if int(top) < 1:
        raise ValidationError(f"top must be a positive number of paths; got {top!r}.")
    k = int(top)
    # best[i, r]: product of the r-th best partial path ending at neuron i of the current
    # layer (0 = none); back[l][j, r] = flat index i * k + r' into the previous layer's best.
    best = np.zeros((sizes[0], k))  # (n_0, k)
    best[int(src_feature), 0] = 1.0
    backs: list[np.ndarray] = []
    for m in ms:
        n_in, n_out = m.shape
        cand = (best[:, :, None] * m[:, None, :]).reshape(n_in * k, n_out)  # (n_l*k, n_{l+1})
        order = np.argsort(-cand, axis=0, kind="stable")[:k]  # (k, n_{l+1})
        vals = np.take_along_axis(cand, order, axis=0)  # (k, n_{l+1}); n_l * k >= k rows
        best = vals.T  # (n_{l+1}, k)
        backs.append(order.T)  # (n_{l+1}, k)
    out: list[tuple[list[int], float]] = []
    for r in range(k):
        prod = float(best[int(dst_class), r])
        if prod <= 0:
            break
        path = [int(dst_class)]
        j, rank = int(dst_class), r
        for back in reversed(backs):
            flat = int(back[j, rank])
            j, rank = divmod(flat, k)
            path.append(j)
        out.append((path[::-1], prod))
    return out


# -- everything at once ------------------------------------------------------------------
def frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class Analysis:
    """All analysis results of one NIF network (arrays are read-only).

    Per-node arrays have shape (n_nodes,) in flat node order; ``attribution`` is
    (n_0, n_L). ``membership`` is the Louvain community of every node.
    """

    betweenness: np.ndarray
    membership: np.ndarray
    modularity: float
    n_communities: int
    attribution: np.ndarray
    in_flow: np.ndarray
    out_flow: np.ndarray
    prunable: np.ndarray
    gamma: float
    threshold: float
    seed: int
    sizes: tuple[int, ...] = ()

    def metrics_frame(self, sizes: Sequence[int] | None = None) -> pd.DataFrame:
        """Per-neuron metrics with exactly ``records.NEURON_METRIC_COLUMNS``."""
        import pandas as pd

        sizes = tuple(int(s) for s in (self.sizes if sizes is None else sizes))
        n = int(layer_offsets(sizes)[-1])
        if n != self.betweenness.shape[0]:
            raise ValidationError(
                f"Layer sizes {list(sizes)} give {n} neurons but the analysis has "
                f"{self.betweenness.shape[0]}: pass the sizes of the analysed network."
            )
        layer = layer_of(sizes)
        idx = np.arange(n) - layer_offsets(sizes)[layer]
        frame = pd.DataFrame(
            {
                "layer": layer,
                "idx": idx,
                "betweenness": self.betweenness,
                "community": self.membership,
                "in_flow": self.in_flow,
                "out_flow": self.out_flow,
                "prunable": self.prunable,
                # the pruning decision (candidates verified on held-out data) needs the
                # network: :func:`nifgraph.analysis.analyze_run` fills these
                "candidate": np.zeros(n, dtype=bool),
                "accuracy_drop": np.full(n, np.nan),
            }
        )
        return frame.astype(NEURON_METRIC_COLUMNS)[list(NEURON_METRIC_COLUMNS)]

    def attribution_frame(self) -> pd.DataFrame:
        """The attribution matrix in long form with exactly ``records.ATTRIBUTION_COLUMNS``."""
        import pandas as pd

        n_in, n_out = self.attribution.shape
        fi, ci = np.indices((n_in, n_out))
        frame = pd.DataFrame(
            {"feature_idx": fi.ravel(), "class_idx": ci.ravel(), "value": self.attribution.ravel()}
        )
        return frame.astype(ATTRIBUTION_COLUMNS)[list(ATTRIBUTION_COLUMNS)]


def analyze(
    mats: Mats,
    dead: np.ndarray | None = None,
    *,
    gamma: float = 1.0,
    threshold: float = DEFAULT_THRESHOLD,
    seed: int = 0,
) -> Analysis:
    """Run every analysis on one NIF network.

    Parameters
    ----------
    mats : list of ndarray, each (n_l, n_{l+1})
        NIF in nats.
    dead : ndarray of bool, shape (n_nodes,), optional
        Neurons never active on the data (count as prunable).
    gamma : float
        Louvain resolution.
    threshold : float
        Prunable threshold in nats.
    seed : int
        Louvain seed.
    """
    ms = as_mats(mats)
    sizes = sizes_of(ms)
    membership, q = louvain(ms, resolution=gamma, seed=seed)
    in_flow, out_flow, _, _ = flows(ms)
    return Analysis(
        betweenness=frozen(betweenness(ms)),
        membership=frozen(membership),
        modularity=q,
        n_communities=int(membership.max()) + 1,
        attribution=frozen(attribution(ms)),
        in_flow=frozen(in_flow),
        out_flow=frozen(out_flow),
        prunable=frozen(prunable(ms, dead, threshold=threshold)),
        gamma=float(gamma),
        threshold=float(threshold),
        seed=int(seed),
        sizes=sizes,
    )

"""NIF on a DAG of layers (issue #11, second part): estimate, centrality, communities,
attribution and the prunable rule for models read by :mod:`nifgraph.dag` (CNN channels,
residual and concatenated paths), in process.

The flow graph has one node per unit and one edge per (unit of layer ``a``, unit of layer
``b``) for every pair of layers ``a → b`` that the model joins directly
(:attr:`nifgraph.dag.FlowDag.pairs`); a skip path is such a pair. ``blocks[(a, b)]`` is the
``(n_a, n_b)`` NIF matrix of that pair. On a chain the results equal the chain engine's
(:mod:`nifgraph.analysis.local`), which the tests check.

Costs: as in the chain engine, each block is divided by its own maximum and an edge costs
``1 − ln(value/top)``. On a chain every path between two units has the same number of edges,
so the 1 changes nothing; on a DAG with skips it is one unit of cost per hop, so a path
through a skip that carries as much as the block's path (per hop) is preferred as the
shorter one -- the information travels fewer steps. Zero edges are dropped.

The pipeline (``nifgraph estimate`` / ``run`` on a DAG model) and the analysis dispatcher call
:func:`estimate_dag` and :func:`analyze_dag`; ``scripts/residual_flow.py`` uses them directly.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ValidationError
from ..flowgraph import dag_path_sums
from ..settings import DEFAULT_THRESHOLD

__all__ = ["DagNif", "DagAnalysis", "estimate_dag", "analyze_dag", "dag_edge_list", "blocks_from_edges"]

Blocks = dict[tuple[int, int], np.ndarray]


@dataclass(frozen=True)
class DagNif:
    """NIF of every edge of a DAG model: ``blocks[(a, b)]`` in nats, ``(n_a, n_b)``."""

    sizes: tuple[int, ...]
    blocks: Blocks
    names: tuple[str, ...] = ()
    #: per-edge significance (``p_value``, ``q_value``, ``ci_low``, ``ci_high``; ``screened``), per pair
    extras: dict[str, Blocks] = field(default_factory=dict, repr=False)
    #: settings of the significance computation (null, bootstrap, ...); empty when off
    significance: dict[str, Any] = field(default_factory=dict)
    #: samples each pair was estimated on (N, or the position samples of a pair on positions)
    pair_samples: dict[tuple[int, int], int] = field(default_factory=dict)
    #: the pairs estimated on positions (``conv_samples="positions"``)
    on_positions: tuple[tuple[int, int], ...] = ()
    #: a conv channel's samples: "mean" or "positions"
    conv_samples: str = "mean"
    #: the cap on position samples per spatial size
    max_positions: int = 0

    @property
    def n_edges(self) -> int:
        return int(sum(m.size for m in self.blocks.values()))

    def samples_settings(self) -> dict[str, Any]:
        """What a run records of its conv samples (``show`` prints it, export carries it): the
        mode and, with positions, the pairs estimated on them, their samples and the cap."""
        out: dict[str, Any] = {"conv_samples": self.conv_samples}
        if self.conv_samples == "positions":
            out["position_pairs"] = [list(p) for p in self.on_positions]
            out["position_samples"] = max((self.pair_samples[p] for p in self.on_positions), default=0)
            out["max_positions"] = self.max_positions
        return out


@dataclass(frozen=True)
class DagAnalysis:
    """Per-unit metrics (flat order: layer by layer) and the input-to-class attribution."""

    betweenness: np.ndarray
    community: np.ndarray
    modularity: float
    in_flow: np.ndarray
    out_flow: np.ndarray
    prunable: np.ndarray
    attribution: np.ndarray  # (n_inputs, n_outputs)


def _offsets(sizes: tuple[int, ...]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


def _check(nif: DagNif) -> None:
    for (a, b), m in nif.blocks.items():
        if not 0 <= a < b < len(nif.sizes) or np.shape(m) != (nif.sizes[a], nif.sizes[b]):
            raise ValidationError(f"Block ({a}, {b}) of shape {np.shape(m)} does not fit layer sizes {nif.sizes}.")
        if not np.isfinite(m).all() or (np.asarray(m) < 0).any():
            raise ValidationError(f"Block ({a}, {b}) has negative or non-finite NIF values; clip estimates at 0.")


def estimate_dag(
    dag: Any,
    x: np.ndarray,
    *,
    estimator: str = "gcmi",
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    significance: Any = None,
    screen: str | None = None,
    screen_alpha: float = 0.05,
    conv_samples: str = "mean",
    max_positions: int | None = None,
    **options: Any,
) -> DagNif:
    """NIF of every edge of ``dag`` (a :class:`nifgraph.dag.FlowDag`) on the samples ``x``:
    one :func:`nifgraph.mi.pairwise` call per joined pair of layers (skips included), pair ``k``
    of :attr:`~nifgraph.dag.FlowDag.pairs` seeded ``seed + k`` (on a chain: the chain's seeding).

    ``significance`` (a :class:`nifgraph.significance.SignificanceSpec`) adds, exactly as for a
    chain (:func:`nifgraph.nif.estimate_nif`): every layer's columns mapped to tie-broken normal
    scores (seed ``seed + layer``), a pooled permutation null batched into each pair's call,
    permutation p-values, Benjamini-Hochberg q-values over every edge of every pair, and
    half-sample intervals -- in ``extras[column][(a, b)]``; the settings in ``significance_settings``.
    ``screen="gcmi"``: the two-stage screen of :func:`nifgraph.nif.screen_candidates` per pair.

    ``conv_samples``: ``"mean"`` (a channel's sample is its mean over positions) or
    ``"positions"`` (between conv layers of one spatial size every position is a sample, at
    most ``max_positions``, :data:`nifgraph.dag.MAX_POSITION_SAMPLES` by default;
    :meth:`nifgraph.dag.FlowDag.layer_samples`). Positions are not independent samples, so
    they are refused with ``significance``."""
    from .. import mi
    from .. import significance as sig
    from ..dag import MAX_POSITION_SAMPLES
    from ..nif import screen_candidates

    spec = None if significance is None or not significance.active else significance
    if spec is not None and conv_samples != "mean":
        raise ValidationError(
            "Positions of one image are not independent samples: a null or bootstrap over them would be "
            "anti-conservative; estimate with conv_samples='mean' for significance."
        )
    cap = MAX_POSITION_SAMPLES if max_positions is None else int(max_positions)
    samples = dag.layer_samples(x, conv_samples, max_positions=cap, seed=seed)
    acts = samples.means
    if spec is not None and spec.null:  # one marginal for every column: the pooled null fits every edge
        acts = sig.null_scores(acts, seed)
    pairs = dag.pairs
    total = sum(acts[a].shape[1] * acts[b].shape[1] for a, b in pairs) + (spec.work(acts, pairs) if spec else 0)
    done = 0

    def sub(base: int) -> Callable[[int, int], None] | None:
        return None if progress is None else (lambda d, _t: progress(base + d, total))

    blocks: Blocks = {}
    nulls, screened, counts = [], {}, {}
    for k, (a, b) in enumerate(pairs):  # pair k is seeded seed + k, as a chain's layer pair l is seed + l
        xa, xb = samples.pair(a, b) if spec is None else (acts[a], acts[b])
        counts[(a, b)] = int(xa.shape[0])
        screen_values, cand = screen_candidates(xa, xb, screen_alpha) if screen else (None, None)
        if spec is not None and spec.null:
            rel, null, extra = sig.pairwise_with_null(xa, xb, estimator, spec.null_draws, seed=seed + k,
                                                      progress=sub(done), edges=cand, **options)
            nulls.append(null)
            done += extra
        else:
            rel = mi.pairwise(xa, xb, estimator, seed=seed + k, progress=sub(done), edges=cand, **options)
        rel = np.maximum(np.asarray(rel, dtype=np.float64), 0.0)
        if cand is not None:  # the screen's value where the edge was not sent on
            live = ~np.all(xa == xa[:1], axis=0)[:, None] & ~np.all(xb == xb[:1], axis=0)[None, :]
            rel = np.where(cand, rel, screen_values)
            screened[(a, b)] = (live & ~cand).astype(np.float64)
        blocks[(a, b)] = rel
        done += rel.size
        if progress is not None:
            progress(done, total)
    extras: dict[str, Blocks] = {}
    settings: dict[str, Any] = {}
    if spec is not None:
        res = sig.assess(acts, [blocks[p] for p in pairs], spec, nulls=nulls, estimator=estimator, seed=seed,
                         progress=sub(done), pairs=pairs, **options)
        blocks = dict(zip(pairs, res.relevance, strict=True))
        extras = {col: dict(zip(pairs, mats, strict=True)) for col, mats in res.extras.items()}
        settings = res.settings
    if screen:
        extras["screened"] = screened
    return DagNif(tuple(int(s) for s in dag.layer_sizes), blocks, tuple(la.name for la in dag.layers),
                  extras=extras, significance=settings, pair_samples=counts,
                  on_positions=tuple(p for p in pairs if samples.on_positions(*p)), conv_samples=conv_samples,
                  max_positions=cap)


def blocks_from_edges(edges: Any, sizes: tuple[int, ...], column: str = "value") -> Blocks:
    """The ``{(a, b): (n_a, n_b)}`` matrices of ``column`` from an edge table (missing edges 0),
    one per joined layer pair present in the table, in topological order."""
    blocks: Blocks = {}
    add_block_edges(blocks, edges, sizes, column)
    return sorted_blocks(blocks)


def add_block_edges(blocks: Blocks, edges: Any, sizes: tuple[int, ...], column: str = "value") -> None:
    """Write the ``column`` of the edges in ``edges`` (an edge table or one slice of it:
    ``src_layer``, ``src_idx``, ``dst_layer``, ``dst_idx`` and ``column``) into ``blocks``, in
    place; a pair's block is created (zeros) when its first edge comes. Slice by slice, in the
    table's order, then :func:`sorted_blocks`, this gives :func:`blocks_from_edges`."""
    for (a, b), part in edges.groupby(["src_layer", "dst_layer"], sort=True):
        key = (int(a), int(b))
        m = blocks.get(key)
        if m is None:
            m = blocks[key] = np.zeros((int(sizes[key[0]]), int(sizes[key[1]])))
        m[part["src_idx"].to_numpy(dtype=int), part["dst_idx"].to_numpy(dtype=int)] = part[column].to_numpy(dtype=float)


def sorted_blocks(blocks: Blocks) -> Blocks:
    """``blocks`` with its layer pairs in topological order (sorted by source, then target)."""
    return dict(sorted(blocks.items()))


def dag_edge_list(nif: DagNif) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Non-zero edges as flat arrays ``src, dst, value, cost`` (cost ``1 − ln(value/top)`` of
    the edge's block), in pair then row-major order."""
    _check(nif)
    off = _offsets(nif.sizes)
    parts = []
    for (a, b), m in nif.blocks.items():
        m = np.asarray(m, dtype=np.float64)
        top = m.max()
        rows, cols = np.nonzero(m > 0)
        v = m[rows, cols]
        parts.append((off[a] + rows, off[b] + cols, v, 1.0 - np.log(v / top) if top > 0 else v))
    if not parts:
        empty = np.zeros(0)
        return empty.astype(np.int64), empty.astype(np.int64), empty, empty
    src, dst, value, cost = (np.concatenate(p) for p in zip(*parts, strict=True))
    return src.astype(np.int64), dst.astype(np.int64), value, cost + 0.0


def analyze_dag(
    nif: DagNif,
    *,
    gamma: float = 1.0,
    threshold: float = DEFAULT_THRESHOLD,
    seed: int = 0,
    dead: np.ndarray | None = None,
) -> DagAnalysis:
    """Betweenness (directed, costs above), Louvain (undirected, raw nats, resolution
    ``gamma``), in/out flow, the prunable rule of the chain engine (a hidden unit that is dead
    or whose strongest incoming or outgoing edge carries ≤ ``threshold`` nats) and the
    attribution (sum over all unit paths of the product of NIF, :func:`dag_path_sums`)."""
    import igraph

    off = _offsets(nif.sizes)
    n = int(off[-1])
    src, dst, value, cost = dag_edge_list(nif)
    edges = np.column_stack([src, dst]).tolist()
    if src.size:
        btw = np.asarray(igraph.Graph(n=n, edges=edges, directed=True).betweenness(directed=True, weights=cost.tolist()))
        g = igraph.Graph(n=n, edges=edges, directed=False)
        state = random.getstate()
        try:
            random.seed(seed)
            membership = g.community_multilevel(weights=value.tolist(), resolution=float(gamma)).membership
        finally:
            random.setstate(state)
        q = float(g.modularity(membership, weights=value.tolist(), resolution=float(gamma), directed=False))
    else:
        btw, membership, q = np.zeros(n), list(range(n)), float("nan")
    in_flow, out_flow = np.zeros(n), np.zeros(n)
    max_in, max_out = np.zeros(n), np.zeros(n)
    np.add.at(in_flow, dst, value)
    np.add.at(out_flow, src, value)
    np.maximum.at(max_in, dst, value)
    np.maximum.at(max_out, src, value)
    hidden = np.zeros(n, dtype=bool)
    hidden[off[1] : off[-2]] = True
    dead_mask = np.zeros(n, dtype=bool) if dead is None else np.asarray(dead, dtype=bool)
    prunable = hidden & (dead_mask | (max_in <= threshold) | (max_out <= threshold))
    from .local import relabel

    return DagAnalysis(
        betweenness=btw,
        community=relabel(membership),
        modularity=q,
        in_flow=in_flow,
        out_flow=out_flow,
        prunable=prunable,
        attribution=dag_path_sums(nif.sizes, nif.blocks),
    )

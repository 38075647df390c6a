"""The layered flow graph of a NIF network, as data: validated per-layer NIF matrices, the flat
node layout, per-layer normalisation, the path-cost transform and the edge list.

A network with layer sizes ``(n_0, ..., n_L)`` has ``L`` NIF matrices ``mats[l]`` of shape
``(n_l, n_{l+1})`` (nats). Nodes are numbered flat by layer: ``node = offset[layer] + idx``.
The cost transform is explained in :mod:`nifgraph.analysis.local` (shortest path = path of
largest NIF product). Pure: arrays in, arrays out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import ValidationError

__all__ = ["Mats", "as_mats", "layer_offsets", "sizes_of", "layer_of", "normalize_per_layer", "cost_transform", "edge_list", "dag_path_sums"]

Mats = Sequence[np.ndarray]


# -- validation and layout -------------------------------------------------------------
def as_mats(mats: Mats) -> list[np.ndarray]:
    """Validate and return the matrices as float64 arrays (no copy when already so)."""
    if isinstance(mats, np.ndarray) or len(mats) == 0:
        raise ValidationError(
            "NIF matrices must be a non-empty list of 2-D arrays, one per layer pair; "
            f"got {type(mats).__name__} of length {len(mats)}."
        )
    out: list[np.ndarray] = []
    for li, m in enumerate(mats):
        a = np.asarray(m, dtype=np.float64)
        if a.ndim != 2 or 0 in a.shape:
            raise ValidationError(
                f"NIF matrix {li} must be 2-D (n_{li}, n_{li + 1}) with no empty axis; got shape "
                f"{a.shape}: pass one (src, dst) matrix per layer pair."
            )
        if not np.isfinite(a).all():
            raise ValidationError(
                f"NIF matrix {li} has NaN or infinite values: replace failed estimates by 0 "
                "(no information) before analysis."
            )
        if (a < 0).any():
            raise ValidationError(
                f"NIF matrix {li} has negative values (min {a.min():.3g}): clip estimates at 0, "
                "mutual information is never negative."
            )
        if out and out[-1].shape[1] != a.shape[0]:
            raise ValidationError(
                f"NIF matrices {li - 1} and {li} do not chain: matrix {li - 1} has "
                f"{out[-1].shape[1]} columns but matrix {li} has {a.shape[0]} rows; "
                "matrix l must be (n_l, n_{l+1})."
            )
        out.append(a)
    return out


def layer_offsets(sizes: Sequence[int]) -> np.ndarray:
    """Flat node id of the first neuron of every layer, plus the total.

    Returns
    -------
    offsets : ndarray of int64, shape (L + 2,)
        ``offsets[0] = 0``, ``offsets[l + 1] = n_0 + ... + n_l``; node ``(l, i)`` has id
        ``offsets[l] + i`` and ``offsets[-1]`` is the number of nodes.
    """
    s = np.asarray(list(sizes), dtype=np.int64)
    if s.ndim != 1 or s.size < 2 or (s <= 0).any():
        raise ValidationError(
            f"Layer sizes must be at least two positive integers; got {list(sizes)!r}."
        )
    return np.concatenate([[0], np.cumsum(s)]).astype(np.int64)


def sizes_of(mats: Mats) -> tuple[int, ...]:
    """Layer sizes ``(n_0, ..., n_L)`` implied by the matrices (validates them)."""
    ms = as_mats(mats)
    return (int(ms[0].shape[0]), *(int(m.shape[1]) for m in ms))


def layer_of(sizes: Sequence[int]) -> np.ndarray:
    """Layer index of every flat node, shape (n_nodes,)."""
    return np.repeat(np.arange(len(sizes)), np.asarray(sizes))


# -- edge weights ----------------------------------------------------------------------
def normalize_per_layer(mats: Mats) -> list[np.ndarray]:
    """Each matrix divided by its maximum, values in [0, 1]; an all-zero matrix stays zero."""
    out = []
    for m in as_mats(mats):
        top = m.max()
        out.append(m / top if top > 0 else np.zeros_like(m))
    return out


def cost_transform(norm: np.ndarray) -> np.ndarray:
    """Path cost of normalised NIF: ``-ln(w)`` where ``w > 0``, NaN (no edge) where ``w <= 0``.

    The strongest edge of a layer pair (``w = 1``) costs 0; see the module docstring.
    """
    w = np.asarray(norm, dtype=np.float64)
    out = np.full(w.shape, np.nan)
    pos = w > 0
    out[pos] = -np.log(w[pos])
    # -ln(1) is 0.0 exactly; clear the -0.0 that log gives for w == 1.
    return out + 0.0


def edge_list(
    mats: Mats, *, drop_zero: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All edges of the flow graph as flat arrays, in layer then row-major order.

    Returns
    -------
    src, dst : ndarray of int64, shape (n_edges,)
        Flat node ids.
    value : ndarray, shape (n_edges,)
        NIF in nats.
    value_norm : ndarray, shape (n_edges,)
        ``value`` divided by the maximum of its layer pair.
    cost : ndarray, shape (n_edges,)
        ``-ln(value_norm)``; NaN for zero edges (only present when ``drop_zero=False``).
    """
    ms = as_mats(mats)
    sizes = (ms[0].shape[0], *(m.shape[1] for m in ms))
    off = layer_offsets(sizes)
    norms = normalize_per_layer(ms)
    parts: list[tuple[np.ndarray, ...]] = []
    for li, (m, nm) in enumerate(zip(ms, norms, strict=True)):
        rows, cols = np.indices(m.shape)  # each (n_l, n_{l+1})
        v, vn = m.ravel(), nm.ravel()
        keep = v > 0 if drop_zero else np.ones(v.shape, dtype=bool)
        parts.append(
            (off[li] + rows.ravel()[keep], off[li + 1] + cols.ravel()[keep], v[keep], vn[keep])
        )
    src, dst, value, value_norm = (np.concatenate(p) for p in zip(*parts, strict=True))
    return src.astype(np.int64), dst.astype(np.int64), value, value_norm, cost_transform(value_norm)


def dag_path_sums(sizes: Sequence[int], flow: dict[tuple[int, int], np.ndarray]) -> np.ndarray:
    """Attribution on a DAG of layers (skip paths included): for every input unit and output
    unit, the sum over all unit paths of the product of NIF values.

    ``flow[(a, b)]`` is the ``(n_a, n_b)`` matrix of the edges from layer ``a`` to layer
    ``b > a`` (layers numbered in topological order; ``0`` the input, the last the output).
    Computed layer by layer in topological order -- ``reach[b] = Σ_a reach[a] @ flow[(a, b)]``
    -- never by enumerating paths; for a chain it equals ``mats[0] @ … @ mats[L-1]``.
    """
    sizes = [int(n) for n in sizes]
    for (a, b), m in flow.items():
        if not 0 <= a < b < len(sizes):
            raise ValidationError(f"Edge block ({a}, {b}) does not go forward between layers 0..{len(sizes) - 1}.")
        if np.shape(m) != (sizes[a], sizes[b]):
            raise ValidationError(f"Edge block ({a}, {b}) has shape {np.shape(m)}; expected ({sizes[a]}, {sizes[b]}).")
    reach: list[np.ndarray] = [np.eye(sizes[0])]
    for b in range(1, len(sizes)):
        acc = np.zeros((sizes[0], sizes[b]))
        for (a, bb), m in flow.items():
            if bb == b:
                acc += reach[a] @ np.asarray(m, dtype=np.float64)
        reach.append(acc)
    return reach[-1]

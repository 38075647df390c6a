"""Kraskov-Stoegbauer-Grassberger estimator 1 (Kraskov et al., Phys. Rev. E 69, 2004).

``I = psi(k) + psi(N) - < psi(n_x + 1) + psi(n_y + 1) >`` where, for each sample, ``eps`` is
the max-norm distance to its k-th neighbour in the joint space and ``n_x`` (``n_y``) counts
the other samples strictly closer than ``eps`` in the marginal space.

Joint neighbours come from a ``scipy.spatial.cKDTree`` per pair; 1-D marginal counts from
binary search in the pre-sorted column, so a column is sorted once for all its pairs.
By default each variable is first mapped to normal scores by rank (``copula=True``): MI is
unchanged, the estimate becomes exactly invariant under monotone maps and heavy tails stop
hurting the neighbour search. Ties (e.g. the zeros of a ReLU) are broken by a jitter of
``1e-10`` drawn from the seed, as scikit-learn does.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import digamma

from ._validate import column_map, constant_columns, normal_scores, standardize

DEFAULTS: dict[str, object] = {"k": 3, "copula": True}  # kd-tree threads: the call's ``workers``
_JITTER = 1e-10


def min_samples(opts: dict) -> int:
    return int(opts["k"]) + 2


def _prepare(a: np.ndarray, copula: bool, rng: np.random.Generator):
    const = constant_columns(a)
    z = column_map(a, (lambda b: standardize(normal_scores(b))) if copula else standardize)
    z += _JITTER * rng.standard_normal(z.shape)
    return z, const


def _count_1d(sorted_col: np.ndarray, col: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """Number of other samples with ``|v - col_i| < eps_i`` (strict), per sample.

    The comparison is the one the kd-tree made when it found ``eps_i``: the rounded difference
    ``fl(v - col_i)`` against ``eps_i``. Binary search on ``fl(col_i ± eps_i)`` can be off by a
    sample at the boundary (the k-th neighbour, at exactly ``eps_i``, may round inside), so each
    bound is then stepped to where the rounded difference crosses ``±eps_i``: ``fl(v - c)`` is
    monotone in ``v``, so the samples inside are one run of the sorted column.
    """
    hi = np.searchsorted(sorted_col, col + eps, side="left")  # first v with fl(v - c) >= eps
    lo = np.searchsorted(sorted_col, col - eps, side="right")  # first v with fl(v - c) > -eps
    hi = _step(sorted_col, hi, lambda idx: sorted_col[idx] - col < eps)
    lo = _step(sorted_col, lo, lambda idx: sorted_col[idx] - col <= -eps)
    return hi - lo - 1


def _step(sorted_col: np.ndarray, bound: np.ndarray, below) -> np.ndarray:
    """Move each ``bound`` to the first index whose sample fails ``below`` (true on a prefix of
    the sorted column). Equal samples pass or fail together, so a step jumps a run of ties
    whole: the loops take as many passes as distinct values lie within rounding of the bound."""
    n = sorted_col.size
    bound = bound.copy()
    while True:  # down while the sample just below the bound fails: to the start of its ties
        down = (bound > 0) & ~below(np.maximum(bound - 1, 0))
        if not down.any():
            break
        bound[down] = np.searchsorted(sorted_col, sorted_col[bound[down] - 1], side="left")
    while True:  # up while the sample at the bound passes: past the end of its ties
        up = (bound < n) & below(np.minimum(bound, n - 1))
        if not up.any():
            break
        bound[up] = np.searchsorted(sorted_col, sorted_col[bound[up]], side="right")
    return bound


def _kth_distance(pts: np.ndarray, k: int, workers: int) -> np.ndarray:
    d, _ = cKDTree(pts).query(pts, k=k + 1, p=np.inf, workers=workers)
    return d[:, k]


def ksg_pairwise(x: np.ndarray, y: np.ndarray, opts: dict, seed: int, progress) -> np.ndarray:
    """KSG-1 MI ``(a, b)`` between every column of ``x (N, a)`` and of ``y (N, b)``."""
    k, workers = int(opts["k"]), int(opts.get("workers", 1))
    rng = np.random.default_rng(seed)
    zx, cx = _prepare(x, opts["copula"], rng)
    zy, cy = _prepare(y, opts["copula"], rng)
    n, a = zx.shape
    b = zy.shape[1]
    sx, sy = np.sort(zx, axis=0), np.sort(zy, axis=0)
    base = digamma(k) + digamma(n)
    out = np.zeros((a, b))
    total, done = a * b, 0
    for i in range(a):
        if not cx[i]:
            for j in range(b):
                if cy[j]:
                    continue
                eps = _kth_distance(np.column_stack([zx[:, i], zy[:, j]]), k, workers)
                nx = _count_1d(sx[:, i], zx[:, i], eps)
                ny = _count_1d(sy[:, j], zy[:, j], eps)
                out[i, j] = base - np.mean(digamma(nx + 1) + digamma(ny + 1))
        done += b
        if progress is not None:
            progress(done, total)
    return np.maximum(out, 0.0)


def ksg_joint(x: np.ndarray, y: np.ndarray, opts: dict, seed: int, progress) -> np.ndarray:
    """KSG-1 MI ``(b,)`` between the whole of ``x (N, a)`` (max-norm) and each ``y_j``."""
    k, workers = int(opts["k"]), int(opts.get("workers", 1))
    rng = np.random.default_rng(seed)
    zx, cx = _prepare(x, opts["copula"], rng)
    zy, cy = _prepare(y, opts["copula"], rng)
    zx = zx[:, ~cx]
    n, b = zy.shape
    out = np.zeros(b)
    if zx.shape[1] > 0:
        xtree = cKDTree(zx)
        sy = np.sort(zy, axis=0)
        base = digamma(k) + digamma(n)
        for j in range(b):
            if not cy[j]:
                eps = _kth_distance(np.column_stack([zx, zy[:, j]]), k, workers)
                r = np.nextafter(eps, 0.0)  # strict: distance < eps
                nx = (
                    xtree.query_ball_point(zx, r, p=np.inf, return_length=True, workers=workers) - 1
                )
                ny = _count_1d(sy[:, j], zy[:, j], eps)
                out[j] = base - np.mean(digamma(nx + 1) + digamma(ny + 1))
            if progress is not None:
                progress(j + 1, b)
    elif progress is not None:
        progress(b, b)
    return np.maximum(out, 0.0)

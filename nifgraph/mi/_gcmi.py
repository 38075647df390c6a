"""Gaussian-copula MI (Ince et al. 2017): rank -> normal scores, then the Gaussian formula.

For two normal-score columns with correlation ``r`` the Gaussian MI is ``-1/2 ln(1 - r^2)``;
all ``a x b`` pairs come from one matrix product. For a multivariate ``x`` the formula is
``-1/2 ln(1 - R^2)`` with ``R^2`` the squared multiple correlation of ``y_j`` on ``x``.

This is exact when the copula is Gaussian and a *lower bound* otherwise (for a fixed pair of
marginals the Gaussian copula has the least MI at a given rank correlation): it misses
non-monotone dependence (``y = x^2`` gives ~0) and dependence that lives only in the tails.
No small-sample bias correction is applied (the bias is about ``+1/(2N)`` nats per pair).

Memory: the normal scores of the narrower side are held (float64), the wider side is scored
and correlated a block of columns at a time (:func:`._validate.column_map`), so a large layer
pair costs one side's scores, not float64 copies of both plus their temporaries.
"""

from __future__ import annotations

import numpy as np

from ._validate import column_map, column_spans, constant_columns, normal_scores, standardize

DEFAULTS: dict[str, object] = {}
MIN_SAMPLES = 3
_R2_MAX = 1.0 - 1e-12


def _block_scores(b: np.ndarray) -> np.ndarray:
    z = standardize(normal_scores(b))
    z[:, constant_columns(b)] = 0.0
    return z


def _scores(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return column_map(a, _block_scores), constant_columns(a)


def _correlations(held: np.ndarray, streamed: np.ndarray) -> np.ndarray:
    """``held.T @ scores(streamed) / N``, ``(a, b)``, scoring ``streamed`` a block at a time."""
    n = held.shape[0]
    r = np.empty((held.shape[1], streamed.shape[1]))
    for s, e in column_spans(streamed.shape[1], n):
        z = _block_scores(np.asarray(streamed[:, s:e], dtype=np.float64))
        r[:, s:e] = (held.T @ z) / n
    return r


def gcmi_pairwise(x: np.ndarray, y: np.ndarray, opts: dict, seed: int, progress) -> np.ndarray:
    """MI ``(a, b)`` between every column of ``x (N, a)`` and of ``y (N, b)``."""
    if x.shape[1] <= y.shape[1]:  # hold the narrower side's scores
        r = _correlations(_scores(x)[0], y)
    else:
        r = _correlations(_scores(y)[0], x).T
    # (a, b) correlations; 0 for constant columns
    mi = -0.5 * np.log1p(-np.minimum(r * r, _R2_MAX))
    if progress is not None:
        progress(mi.size, mi.size)
    return np.maximum(mi, 0.0)


def gcmi_joint(x: np.ndarray, y: np.ndarray, opts: dict, seed: int, progress) -> np.ndarray:
    """MI ``(b,)`` between the whole of ``x (N, a)`` and each column of ``y (N, b)``."""
    n = x.shape[0]
    zx, cx = _scores(x)
    zx = zx[:, ~cx]
    out = np.zeros(y.shape[1])
    if zx.shape[1] > 0:
        sxx = zx.T @ zx / n  # (a', a')
        sxy = _correlations(zx, y)  # (a', b)
        # tiny ridge: columns of x can be (near) collinear
        coef = np.linalg.solve(sxx + 1e-9 * np.eye(sxx.shape[0]), sxy)
        r2 = np.clip(np.sum(sxy * coef, axis=0), 0.0, _R2_MAX)
        out = -0.5 * np.log1p(-r2)
    if progress is not None:
        progress(out.size, out.size)
    return np.maximum(out, 0.0)

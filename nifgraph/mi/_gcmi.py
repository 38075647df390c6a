"""Gaussian-copula MI (Ince et al. 2017): rank -> normal scores, then the Gaussian formula.

For two normal-score columns with correlation ``r`` the Gaussian MI is ``-1/2 ln(1 - r^2)``;
all ``a x b`` pairs come from one matrix product. For a multivariate ``x`` the formula is
``-1/2 ln(1 - R^2)`` with ``R^2`` the squared multiple correlation of ``y_j`` on ``x``.

This is exact when the copula is Gaussian and a *lower bound* otherwise (for a fixed pair of
marginals the Gaussian copula has the least MI at a given rank correlation): it misses
non-monotone dependence (``y = x^2`` gives ~0) and dependence that lives only in the tails.
No small-sample bias correction is applied (the bias is about ``+1/(2N)`` nats per pair).
"""

from __future__ import annotations

import numpy as np

from ._validate import constant_columns, normal_scores, standardize

DEFAULTS: dict[str, object] = {}
MIN_SAMPLES = 3
_R2_MAX = 1.0 - 1e-12


def _scores(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    const = constant_columns(a)
    z = standardize(normal_scores(a))
    z[:, const] = 0.0
    return z, const


def gcmi_pairwise(x: np.ndarray, y: np.ndarray, opts: dict, seed: int, progress) -> np.ndarray:
    """MI ``(a, b)`` between every column of ``x (N, a)`` and of ``y (N, b)``."""
    zx, _ = _scores(x)
    zy, _ = _scores(y)
    r = (zx.T @ zy) / x.shape[0]  # (a, b) correlations; 0 for constant columns
    mi = -0.5 * np.log1p(-np.minimum(r * r, _R2_MAX))
    if progress is not None:
        progress(mi.size, mi.size)
    return np.maximum(mi, 0.0)


def gcmi_joint(x: np.ndarray, y: np.ndarray, opts: dict, seed: int, progress) -> np.ndarray:
    """MI ``(b,)`` between the whole of ``x (N, a)`` and each column of ``y (N, b)``."""
    n = x.shape[0]
    zx, cx = _scores(x)
    zx = zx[:, ~cx]
    zy, _ = _scores(y)
    out = np.zeros(y.shape[1])
    if zx.shape[1] > 0:
        sxx = zx.T @ zx / n  # (a', a')
        sxy = zx.T @ zy / n  # (a', b)
        # tiny ridge: columns of x can be (near) collinear
        coef = np.linalg.solve(sxx + 1e-9 * np.eye(sxx.shape[0]), sxy)
        r2 = np.clip(np.sum(sxy * coef, axis=0), 0.0, _R2_MAX)
        out = -0.5 * np.log1p(-r2)
    if progress is not None:
        progress(out.size, out.size)
    return np.maximum(out, 0.0)

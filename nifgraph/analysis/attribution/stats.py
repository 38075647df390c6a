"""Statistics that compare two attribution matrices ``(n_features, n_classes)``: column
normalisation, two-sample Kolmogorov-Smirnov, Spearman and Kendall rank correlations (see
:mod:`nifgraph.analysis.attribution` for how to read them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import ValidationError

__all__ = ["TwoSample", "as_matrix", "normalize_columns", "ks_test", "spearman", "kendall", "order"]


@dataclass(frozen=True)
class TwoSample:
    """A statistic and its p-value (NaN when undefined, e.g. a constant input)."""

    statistic: float
    p_value: float


def as_matrix(a: Any, name: str) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or 0 in arr.shape:
        raise ValidationError(
            f"{name} must be a non-empty (n_features, n_classes) array; got shape {arr.shape}."
        )
    if not np.isfinite(arr).all():
        raise ValidationError(f"{name} has NaN or infinite values; replace failed estimates first.")
    return arr


def normalize_columns(a: Any) -> np.ndarray:
    """|a| with every column scaled to sum to 1, shape kept ``(n_features, n_classes)``.

    A column of zeros stays zero (no method prefers any feature there).
    """
    m = np.abs(as_matrix(a, "attribution"))
    s = m.sum(axis=0, keepdims=True)
    return np.divide(m, s, out=np.zeros_like(m), where=s > 0)


def _pair(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape or x.size < 2:
        raise ValidationError(
            f"Rank statistics need two samples of the same size (≥ 2); got {x.size} and {y.size}."
        )
    return x, y


def ks_test(a: Any, b: Any) -> TwoSample:
    """Two-sample Kolmogorov–Smirnov test of the values of ``a`` against those of ``b``.

    Small statistic / large p-value = the two value distributions look alike.
    """
    from scipy.stats import ks_2samp

    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if x.size == 0 or y.size == 0:
        raise ValidationError("The K-S test needs two non-empty samples.")
    res = ks_2samp(x, y)
    return TwoSample(float(res.statistic), float(res.pvalue))


def _rank_stat(fn: Callable, a: Any, b: Any) -> TwoSample:
    x, y = _pair(a, b)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return TwoSample(float("nan"), float("nan"))
    res = fn(x, y)
    return TwoSample(float(res.statistic), float(res.pvalue))


def spearman(a: Any, b: Any) -> TwoSample:
    """Spearman rank correlation of the paired entries of ``a`` and ``b`` (flattened)."""
    from scipy.stats import spearmanr

    return _rank_stat(spearmanr, a, b)


def kendall(a: Any, b: Any) -> TwoSample:
    """Kendall's tau-b of the paired entries of ``a`` and ``b`` (flattened)."""
    from scipy.stats import kendalltau

    return _rank_stat(kendalltau, a, b)


def order(v: np.ndarray) -> np.ndarray:
    return np.argsort(-v, kind="stable")


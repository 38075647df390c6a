"""Deletion test: features are replaced by a fill value (0 = the training mean after
standardisation) in an attribution's order, most important first, and accuracy re-measured;
a faster loss of accuracy is a more faithful attribution. Reported as the area under the
curve of accuracy against the fraction of features deleted (trapezoid rule, x in [0, 1])."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np

from ...errors import ValidationError
from .stats import order

__all__ = ["Predict", "deletion_curve", "deletion_auc", "random_deletion_auc", "class_deletion_auc"]

Predict = Callable[[np.ndarray], np.ndarray]


def deletion_curve(
    predict: Predict, x: np.ndarray, y: np.ndarray, order: Sequence[int], *, fill: float = 0.0
) -> np.ndarray:
    """Accuracy after deleting the first ``k`` features of ``order``, for k = 0..len(order).

    Parameters
    ----------
    predict : callable (n_samples, n_features) -> (n_samples,) class indices
    x : ndarray (n_samples, n_features); y : ndarray (n_samples,)
    order : feature indices, most important first (a permutation, or a prefix of one)
    fill : value a deleted feature is replaced by (0 = the training mean after standardisation)

    Returns
    -------
    ndarray, shape (len(order) + 1,)
    """
    xa = np.array(x, dtype=np.float32, copy=True)
    ya = np.asarray(y)
    idx = [int(i) for i in order]
    if len(set(idx)) != len(idx) or any(not 0 <= i < xa.shape[1] for i in idx):
        raise ValidationError(
            f"order must list distinct feature indices in [0, {xa.shape[1]}); got {idx}."
        )
    if len(ya) == 0:
        raise ValidationError("The deletion test needs at least one sample.")
    out = [float((np.asarray(predict(xa)) == ya).mean())]
    for i in idx:
        xa[:, i] = fill
        out.append(float((np.asarray(predict(xa)) == ya).mean()))
    return np.asarray(out)


def deletion_auc(curve: Sequence[float]) -> float:
    """Area under accuracy vs fraction deleted (x = k / (len(curve) - 1)), trapezoid rule."""
    c = np.asarray(curve, dtype=np.float64)
    if c.ndim != 1 or c.size < 2:
        raise ValidationError(f"A deletion curve needs at least 2 points; got {c.size}.")
    return float(np.sum((c[1:] + c[:-1]) / 2.0) / (c.size - 1))


def _orders(n: int, seed: int, max_orders: int) -> list[tuple[int, ...]]:
    if n <= 6:  # 720 permutations at most: exact expectation
        return list(itertools.permutations(range(n)))
    rng = np.random.default_rng(seed)
    return [tuple(rng.permutation(n)) for _ in range(max_orders)]


def random_deletion_auc(
    predict: Predict,
    x: np.ndarray,
    y: np.ndarray,
    *,
    seed: int = 0,
    max_orders: int = 50,
) -> float:
    """Expected deletion AUC of a random feature order (exact over all orders for ≤ 6 features)."""
    n = np.asarray(x).shape[1]
    return float(
        np.mean([deletion_auc(deletion_curve(predict, x, y, o)) for o in _orders(n, seed, max_orders)])
    )


def class_deletion_auc(predict: Predict, x: np.ndarray, y: np.ndarray, mat: np.ndarray) -> float:
    """Mean over classes j of the deletion AUC of the recall of class j, column j's order."""
    aucs = []
    for j in range(mat.shape[1]):
        sel = np.asarray(y) == j
        if sel.any():
            aucs.append(deletion_auc(deletion_curve(predict, x[sel], y[sel], order(mat[:, j]))))
    return float(np.mean(aucs)) if aucs else float("nan")



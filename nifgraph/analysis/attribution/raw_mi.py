"""Raw mutual information between each input feature and each class indicator, the
reference the other attributions are compared with."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["raw_mi"]


def raw_mi(
    x: np.ndarray, y: np.ndarray, n_classes: int, *, estimator: str = "ksg", seed: int = 0, **options: Any
) -> np.ndarray:
    """I(x_i; 1[y = j]) in nats for every feature ``i`` and class ``j``: (n_features, n_classes)."""
    from ... import mi

    ya = np.asarray(y, dtype=np.int64)
    onehot = (ya[:, None] == np.arange(int(n_classes))[None, :]).astype(np.float64)  # (N, c)
    return np.asarray(mi.pairwise(x, onehot, estimator, seed=seed, **options), dtype=np.float64)

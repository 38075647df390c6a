"""Input checks and the shared pre-processing of every estimator.

Everything here works in float64 numpy; the neural estimators cast to float32 themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.special import ndtri
from scipy.stats import rankdata

from ..errors import ValidationError, param_error

__all__ = ["as_matrix", "check_pair", "merge_options", "normal_scores", "constant_columns"]


def as_matrix(v: Any, name: str, owner: str) -> np.ndarray:
    """``v`` (numpy array, torch tensor or nested sequence) as a float64 ``(n_samples, n_cols)``.

    A 1-D input is one column.
    """
    if hasattr(v, "detach") and hasattr(v, "cpu"):  # a torch tensor, without importing torch
        v = v.detach().cpu().numpy()
    try:
        arr = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValidationError(
            f"{owner}: {name!r} must be a numeric array of shape (n_samples, n_cols); "
            f"it could not be read as numbers ({e})."
        ) from e
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValidationError(
            f"{owner}: {name!r} must be 1-D (n_samples,) or 2-D (n_samples, n_cols); "
            f"got shape {arr.shape}. Reshape it, e.g. arr.reshape(len(arr), -1)."
        )
    if arr.shape[1] == 0:
        raise ValidationError(f"{owner}: {name!r} has no columns (shape {arr.shape}).")
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValidationError(
            f"{owner}: {name!r} contains {bad} NaN or infinite value(s); "
            "drop or impute those samples first."
        )
    return arr


def check_pair(x: Any, y: Any, owner: str, min_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``x`` and ``y`` together: same number of samples, at least ``min_samples``."""
    xa = as_matrix(x, "x", owner)
    ya = as_matrix(y, "y", owner)
    if xa.shape[0] != ya.shape[0]:
        raise ValidationError(
            f"{owner}: x has {xa.shape[0]} samples but y has {ya.shape[0]}; "
            "pass the same samples (rows) for both."
        )
    if xa.shape[0] < min_samples:
        raise ValidationError(
            f"{owner}: needs at least {min_samples} samples for this method; got "
            f"{xa.shape[0]}. Record more samples or pick method='gcmi'."
        )
    return xa, ya


def merge_options(
    defaults: Mapping[str, Any], given: Mapping[str, Any], owner: str
) -> dict[str, Any]:
    """Defaults updated by ``given``; unknown names and wrong types raise ValidationError."""
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValidationError(
            f"{owner}: unknown option(s) {', '.join(unknown)}; valid options are "
            f"{', '.join(sorted(defaults))}."
        )
    out = dict(defaults)
    for key, val in given.items():
        ref = defaults[key]
        if key == "threads" and val is None:  # None: keep torch's current thread count
            out[key] = None
            continue
        if isinstance(ref, bool):
            if not isinstance(val, (bool, np.bool_)):
                raise param_error(key, owner, "a bool", val)
            val = bool(val)
        elif ref is None:  # optional positive int (e.g. threads)
            if val is not None and (
                isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < 1
            ):
                raise param_error(key, owner, "None or a positive int", val)
            val = None if val is None else int(val)
        elif isinstance(ref, int):
            if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < 1:
                raise param_error(key, owner, "a positive int", val)
            val = int(val)
        elif isinstance(ref, float):
            if isinstance(val, bool) or not isinstance(val, (int, float, np.number)):
                raise param_error(key, owner, "a number", val)
            val = float(val)
            if not np.isfinite(val):
                raise param_error(key, owner, "a finite number", val)
        out[key] = val
    return out


def constant_columns(a: np.ndarray) -> np.ndarray:
    """Boolean mask ``(n_cols,)`` of columns whose values are all equal (zero variance)."""
    return np.all(a == a[:1], axis=0)


def normal_scores(a: np.ndarray) -> np.ndarray:
    """Map each column to standard-normal scores by rank (ties get equal scores).

    MI is unchanged by any strictly monotone map of one variable, so this keeps the MI and
    removes heavy tails and scale differences before estimation.
    """
    n = a.shape[0]
    r = rankdata(a, axis=0, method="average")
    return ndtri(r / (n + 1.0))


def standardize(a: np.ndarray) -> np.ndarray:
    """Columns centred to mean 0 and scaled to unit variance (constant columns left at 0)."""
    c = a - a.mean(axis=0, keepdims=True)
    sd = c.std(axis=0, keepdims=True)
    sd[sd == 0] = 1.0
    return c / sd

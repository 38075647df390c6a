"""Input checks and the shared pre-processing of every estimator.

Everything here works in float64 numpy; the neural estimators cast to float32 themselves.
float32 inputs (the activations nifgraph records) are kept as they are and taken to float64 a
block of columns at a time (:func:`column_map`), so no estimator holds a float64 copy of a
whole layer beside its own working arrays; a float32 value is exactly a float64 one, and every
transform here works column by column, so the results are the same bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.special import ndtri
from scipy.stats import rankdata

from ..errors import ValidationError, param_error

__all__ = ["as_matrix", "check_pair", "merge_options", "normal_scores", "constant_columns", "column_map",
           "column_spans", "block_width"]

#: float64 bytes of one block of columns that :func:`column_map` works on (~32 MiB)
BLOCK_BYTES = 32 << 20


def as_matrix(v: Any, name: str, owner: str, keep_float32: bool = False) -> np.ndarray:
    """``v`` (numpy array, torch tensor or nested sequence) as a float64 ``(n_samples, n_cols)``;
    with ``keep_float32`` a float32 array (a memory map too) is returned as it is, not copied.

    A 1-D input is one column.
    """
    if hasattr(v, "detach") and hasattr(v, "cpu"):  # a torch tensor, without importing torch
        v = v.detach().cpu().numpy()
    try:
        keep = keep_float32 and getattr(v, "dtype", None) == np.float32
        arr = np.asarray(v) if keep else np.asarray(v, dtype=np.float64)
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
    bad = sum(int(np.size(blk) - np.count_nonzero(np.isfinite(blk))) for blk in _blocks(arr))
    if bad:
        raise ValidationError(
            f"{owner}: {name!r} contains {bad} NaN or infinite value(s); "
            "drop or impute those samples first."
        )
    return arr


def check_pair(
    x: Any, y: Any, owner: str, min_samples: int, *, fewer: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``x`` and ``y`` together: same number of samples, at least ``min_samples``.
    Both come back float64, or float32 as given (the estimators read them with
    :func:`column_map`)."""
    xa = as_matrix(x, "x", owner, keep_float32=True)
    ya = as_matrix(y, "y", owner, keep_float32=True)
    if xa.shape[0] != ya.shape[0]:
        raise ValidationError(
            f"{owner}: x has {xa.shape[0]} samples but y has {ya.shape[0]}; "
            "pass the same samples (rows) for both."
        )
    if xa.shape[0] < min_samples:
        raise ValidationError(
            f"{owner}: needs at least {min_samples} samples for this method; got "
            f"{xa.shape[0]}. Record more samples" + (f" or pick {fewer}." if fewer else ".")
        )
    return xa, ya


def merge_options(
    defaults: Mapping[str, Any], given: Mapping[str, Any], owner: str
) -> dict[str, Any]:
    """Defaults updated by ``given``; unknown names and wrong types raise ValidationError."""
    unknown = sorted(set(given) - set(defaults))
    if unknown and not defaults:
        raise ValidationError(f"{owner} takes no options; drop {', '.join(unknown)}.")
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


def block_width(n_rows: int) -> int:
    """Columns per block of :func:`column_map` for ``n_rows`` samples (at least 2)."""
    return max(2, BLOCK_BYTES // (8 * max(1, n_rows)))


def column_spans(n_cols: int, n_rows: int, width: int | None = None) -> list[tuple[int, int]]:
    """``(start, stop)`` of the column blocks of an ``(n_rows, n_cols)`` array. No block is one
    column wide unless the array is: numpy reduces a one-column block along its rows pairwise
    and a wider one row after row, so a lone last column would round its mean differently
    from the same column inside a wider array (measured). Blocks of 2 or more columns give
    the whole array's values bit for bit."""
    w = max(2, width or block_width(n_rows))
    spans = [(s, min(s + w, n_cols)) for s in range(0, n_cols, w)]
    if len(spans) > 1 and spans[-1][1] - spans[-1][0] == 1:
        spans[-2:] = [(spans[-2][0], n_cols)]
    return spans


def _blocks(a: np.ndarray):
    for s, e in column_spans(a.shape[1], a.shape[0]):
        yield a[:, s:e]


def column_map(a: np.ndarray, fn, dtype=np.float64, cols: np.ndarray | None = None) -> np.ndarray:
    """``fn`` applied to the columns of ``a (N, c)`` a block at a time (:func:`column_spans`),
    each block taken to float64 first: the ``(N, c)`` result (``dtype``) without a float64 copy
    of all of ``a``. ``fn`` maps a float64 ``(N, w)`` block to ``(N, w)`` and must treat columns
    independently (ranks, normal scores, standardising), so the result does not depend on the
    blocks. ``cols``: only these columns of ``a``, in this order."""
    n = a.shape[0]
    idx = None if cols is None else np.asarray(cols)
    width = a.shape[1] if idx is None else idx.size
    out = np.empty((n, width), dtype=dtype)
    for s, e in column_spans(width, n):
        blk = a[:, s:e] if idx is None else a[:, idx[s:e]]
        out[:, s:e] = fn(np.asarray(blk, dtype=np.float64))
    return out

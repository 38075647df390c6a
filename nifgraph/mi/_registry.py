"""The registered estimators: name -> default options, minimum samples, implementations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import rankdata

from . import _gcmi, _ksg, _mine, _parallel
from ._validate import column_map, column_spans, constant_columns, normal_scores, standardize

Progress = Callable[[int, int], None] | None


@dataclass(frozen=True)
class Where:
    """Where a call runs: ``workers`` processes (validated int), ``device`` (validated) and
    optionally a Ray cluster (the CPU estimators ignore it and run here)."""

    workers: int = 1
    device: str = "cpu"
    #: a Ray cluster (``"local"``, ``"auto"``, an address) for the neural estimators, or None
    ray: str | None = None


def _cpu_only(fn: Callable[..., np.ndarray], threads_option: str | None = None):
    """A CPU estimator; ``threads_option`` receives the worker count (e.g. KSG's kd-tree threads)."""

    def run(x, y, opts, seed, progress, where, edges=None):
        if threads_option is not None:
            opts = {**opts, threads_option: where.workers}
        out = fn(x, y, opts, seed, progress)
        return out if edges is None else np.where(edges, out, 0.0)

    return run


@dataclass(frozen=True)
class Method:
    """One estimator: its defaults and its pairwise / joint implementations."""

    name: str
    summary: str
    defaults: dict[str, Any]
    min_samples: Callable[[dict], int]
    pairwise: Callable[..., np.ndarray]
    joint: Callable[..., np.ndarray]
    check: Callable[[dict, str], None] = lambda opts, owner: None


def _table(a: np.ndarray, opts: dict, cols: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """The float32 table ``(N, c * per)`` the critics read, built a block of columns at a time
    (no float64 copy of the layer is held), and the inputs per variable ``per``: each variable's
    standardised normal score (``copula``; else the value standardised) (1), or with
    ``rank_input`` that score beside its uniform rank scaled to unit variance (2; variable ``i``
    is rows ``2i, 2i + 1``). A smooth critic sees a bounded-support dependence as straight
    edges in ranks and a heavy-tailed one as a Gaussian in normal scores; given both, it uses
    either (docs/estimators.md, "Critic inputs"). ``cols``: only these columns of ``a``."""
    copula, ranked = opts["copula"], opts.get("rank_input", False)
    n = a.shape[0]

    def block(b: np.ndarray) -> np.ndarray:
        z = standardize(normal_scores(b) if copula else b)
        if not ranked:
            return z
        u = standardize((rankdata(b, axis=0) - 0.5) / n - 0.5)
        out = np.empty((n, 2 * b.shape[1]))
        out[:, 0::2], out[:, 1::2] = z, u
        return out

    if not ranked:
        return column_map(a, block, np.float32, cols), 1
    idx = np.arange(a.shape[1]) if cols is None else np.asarray(cols)
    out = np.empty((n, 2 * idx.size), dtype=np.float32)
    for s, e in column_spans(idx.size, 2 * n):
        out[:, 2 * s : 2 * e] = block(np.asarray(a[:, idx[s:e]], dtype=np.float64))
    return out, 2


def _rows(cols: np.ndarray, per: int) -> np.ndarray:
    """``(E,)`` variable indices -> ``(E, per)`` rows of the critic-input table."""
    cols = np.asarray(cols)
    return cols[..., None] * per + np.arange(per) if per > 1 else cols


def _train(zx, zy, ex, jj, keys, bound, opts, seed, where, progress, skipped, total) -> np.ndarray:
    """One batched training of critics for the edges ``(ex[e], jj[e])`` (see :mod:`._mine`),
    on ``where``'s device or worker processes (:mod:`._parallel`)."""
    return _parallel.train(
        zx, zy, ex, jj, keys, bound=bound, opts=opts, seed=seed, workers=where.workers, device=where.device,
        progress=progress, done_offset=skipped, total=total, ray=where.ray,
    )


def _neural_pairwise(bound: str):
    def run(x, y, opts, seed, progress, where, edges=None):
        cx, cy = constant_columns(x), constant_columns(y)
        a, b = x.shape[1], y.shape[1]
        live = ~cx[:, None] & ~cy[None, :]
        ii, jj = np.nonzero(live if edges is None else live & edges)  # edges that need training
        total, skipped = a * b, a * b - ii.size
        if progress is not None and skipped:
            progress(skipped, total)
        keys = ii * b + jj  # the edge's cell: its identity, whatever the sharding
        tx, per = _table(x, opts)
        ty, _ = _table(y, opts)
        ex = _rows(ii, per).reshape(ii.size, per)
        est = _train(tx, ty, ex, _rows(jj, per), keys, bound, opts, seed, where, progress, skipped, total)
        out = np.zeros((a, b))
        out[ii, jj] = est
        return np.maximum(out, 0.0)

    return run


def _neural_joint(bound: str):
    def run(x, y, opts, seed, progress, where, edges=None):
        cx, cy = constant_columns(x), constant_columns(y)
        if edges is not None:  # (b,): the q columns to estimate
            cy = cy | ~edges
        tx, per = _table(x, opts, np.nonzero(~cx)[0])
        ty, _ = _table(y, opts)
        b = y.shape[1]
        out = np.zeros(b)
        jj = np.nonzero(~cy)[0] if tx.shape[1] else np.zeros(0, dtype=int)
        skipped = b - jj.size
        if progress is not None and skipped:
            progress(skipped, b)
        ex = np.tile(np.arange(tx.shape[1]), (jj.size, 1))  # (E, a' * per) every x input
        est = _train(tx, ty, ex, _rows(jj, per), jj, bound, opts, seed, where, progress, skipped, b)
        out[jj] = est
        return np.maximum(out, 0.0)

    return run


REGISTRY: dict[str, Method] = {
    m.name: m
    for m in (
        Method(
            "mine",
            "MINE: Donsker-Varadhan bound, moving-average gradient; one compiled loop per edge on a CPU, batched critics on a GPU",
            dict(_mine.DEFAULTS),
            _mine.min_samples,
            _neural_pairwise("mine"),
            _neural_joint("mine"),
            _mine.check_options,
        ),
        Method(
            "smile",
            "SMILE: critic trained with the JS bound, DV estimate with clipped ratio",
            dict(_mine.SMILE_DEFAULTS),
            _mine.min_samples,
            _neural_pairwise("smile"),
            _neural_joint("smile"),
            _mine.check_options,
        ),
        Method(
            "ksg",
            "Kraskov-Stoegbauer-Grassberger estimator 1 (k nearest neighbours, max-norm)",
            dict(_ksg.DEFAULTS),
            _ksg.min_samples,
            _cpu_only(_ksg.ksg_pairwise, "workers"),
            _cpu_only(_ksg.ksg_joint, "workers"),
        ),
        Method(
            "gcmi",
            "Gaussian-copula MI (a lower bound: monotone dependence only)",
            dict(_gcmi.DEFAULTS),
            lambda opts: _gcmi.MIN_SAMPLES,
            _cpu_only(_gcmi.gcmi_pairwise),
            _cpu_only(_gcmi.gcmi_joint),
        ),
    )
}

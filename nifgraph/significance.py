"""Which edges carry information beyond noise: permutation null, p- and q-values, intervals.

An MI estimate is never exactly 0 on independent data (KSG spreads over ~0.01 nats around
0 at N = 2000, MINE is biased, wide layers carry only ~0.005 nats per edge), so "this edge
carries information" needs a test against the estimator's own distribution on data with
the dependence removed.

Pooled permutation null
-----------------------
Shuffling the rows of one variable breaks the dependence and keeps both marginals. Doing it
per edge costs ``K`` estimates per edge, and ``K = 20`` draws cannot give a p-value below
1/21 -- useless after a multiple-testing correction over thousands of edges. Instead every
column of every layer is first mapped to normal scores by rank with **random tie-breaking**
(:func:`tie_broken_scores`): the ``N`` values of each non-constant column become exactly
the ``N`` normal quantiles ``Φ⁻¹(j / (N + 1))`` in some order. MI is unchanged (the score
is a strictly monotone function of the value and an independent uniform tie key; the value
is a function of the score and the key is independent of everything), but now every column
has the *same* marginal, so under independence every edge sees the same joint
distribution: two independent random orderings of one quantile vector. One pooled null of
``M`` draws per layer pair (default 1000) therefore serves every edge of that pair, and
the permutation p-value ``(1 + #{null ≥ obs}) / (1 + M)`` is valid for each edge, not only
on average over the layer.

The null draws are batched into the estimate's own call (:func:`pairwise_with_null`):
``k`` of the layer's live columns, each with its rows shuffled, are appended to one side,
so the null pairs share the held-out split, minibatches and shuffles of the real edges
(a neural estimator's call-to-call variation cannot bias the p-values) and cost about
``M`` extra pair estimates per layer pair.

Without the tie-breaking this fails on ReLU layers: a column that is 90 % zeros maps to a
point mass, and the estimator's null then depends on the edge (KSG's 95th null percentile
measured 0.029 nats for two continuous columns and 0.003 for a continuous and a 98 %-zero
column), so a pooled null is anti-conservative for some edges and blind for others.

Constant columns (dead or constant neurons) carry exactly 0: their edges get p = 1.

Multiple testing: Benjamini-Hochberg q-values over all edges of the run (:func:`bh_qvalues`).
Optional bias correction subtracts the null mean from the relevance term (off by default).

Intervals
---------
``bootstrap = B`` re-estimates every edge on ``B`` half-samples: ``N/2`` rows drawn without
replacement, each a batched ``pairwise`` call per layer pair. Resampling *with*
replacement duplicates rows, which kNN and neural MI estimators read as perfect
dependence (zero distances, memorised critics); a half-sample without replacement has no
duplicates and, for a smooth statistic, the same variance as the full-sample one
(Var = σ²/m · (1 − m/N) = σ²/N at m = N/2). The interval is ``est ± z · sd`` over the
half-samples, clipped at 0.

Pure: arrays in, arrays and frozen dataclasses out. (Whether two runs agree:
:mod:`nifgraph.analysis.agreement`.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import ndtri

from .errors import ValidationError, param_error

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_NULL_DRAWS",
    "SIGNIFICANCE_COLUMNS",
    "SignificanceSpec",
    "Significance",
    "chain_pairs",
    "null_scores",
    "tie_broken_scores",
    "pairwise_with_null",
    "permutation_pvalues",
    "bh_qvalues",
    "assess",
]

#: Default false-discovery rate for "significant" (``--alpha``).
DEFAULT_ALPHA = 0.05
#: Default size of the pooled permutation null (one per run).
DEFAULT_NULL_DRAWS = 1000
#: Upper bound on the pooled null: p-values finer than 1e-5 change no decision, and each draw
#: costs one estimate per column of the larger layer (10^9 draws would need hundreds of GiB).
MAX_NULL_DRAWS = 100_000
#: Upper bound on half-samples for the interval: every one re-estimates every edge.
MAX_BOOTSTRAP = 10_000
#: The edge-table columns this module fills.
SIGNIFICANCE_COLUMNS = ("p_value", "q_value", "ci_low", "ci_high")
_SEED_NULL = 7919  # seed offsets keep the null, the tie keys and the half-samples apart
_SEED_TIES = 104729
_SEED_BOOT = 15485863

ProgressFn = Callable[[int, int], None]


# -- settings ------------------------------------------------------------------------
@dataclass(frozen=True)
class SignificanceSpec:
    """What to compute besides the estimate.

    null : pooled permutation null, p-values and BH q-values.
    null_draws : size of the pooled null (≥ 100; the smallest p-value is 1 / (1 + M)).
    bootstrap : number of half-samples for the interval (0 = none, else ≥ 2; 20+ advised).
    bias_correct : subtract the null mean from the relevance (needs ``null``).
    ci_level : coverage of the interval.
    """

    null: bool = False
    null_draws: int = DEFAULT_NULL_DRAWS
    bootstrap: int = 0
    bias_correct: bool = False
    ci_level: float = 0.95

    def validate(self, owner: str = "estimate_nif", variant: str = "pairwise") -> SignificanceSpec:
        if not isinstance(self.null, (bool, np.bool_)):
            raise param_error("null", owner, "a bool", self.null)
        d = self.null_draws
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or not 100 <= d <= MAX_NULL_DRAWS:
            raise param_error("null_draws", owner, f"an int in [100, {MAX_NULL_DRAWS:,}]", d)
        b = self.bootstrap
        if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 0 or b == 1 or b > MAX_BOOTSTRAP:
            raise param_error("bootstrap", owner, f"0 (no interval) or an int in [2, {MAX_BOOTSTRAP:,}]", b)
        if self.bias_correct and not self.null:
            raise ValidationError(
                f"{owner}: bias correction subtracts the permutation-null mean; turn the null on "
                "(null=True / --null) or drop bias_correct (--bias-correct)."
            )
        if not 0 < self.ci_level < 1:
            raise param_error("ci_level", owner, "in (0, 1)", self.ci_level)
        if self.active and variant != "pairwise":
            raise ValidationError(
                f"{owner}: significance is computed for variant='pairwise' only (the 'layer' "
                "variant's relevance is a joint MI whose null depends on the layer width); "
                "use --variant pairwise or drop --null/--bootstrap."
            )
        return self

    @property
    def active(self) -> bool:
        return bool(self.null) or self.bootstrap > 0

    def work(self, acts: Sequence[np.ndarray], pairs: Sequence[tuple[int, int]] | None = None) -> int:
        """Extra pair estimates (for progress bars): null columns + half-sample re-estimates.
        ``pairs``: the joined layer pairs (default: a chain's ``(l, l + 1)``)."""
        sizes = [a.shape[1] for a in acts]
        pairs = chain_pairs(len(acts)) if pairs is None else list(pairs)
        edges = sum(sizes[a] * sizes[b] for a, b in pairs)
        extra = 0
        if self.null:
            live = [int((~_constant(a)).sum()) for a in acts]
            for a, b in pairs:
                side, k = _null_plan(live[a], live[b], self.null_draws)
                extra += k * (sizes[a] if side == "q" else sizes[b])
        return extra + int(self.bootstrap) * edges


# -- building blocks ---------------------------------------------------------------------
def chain_pairs(n_layers: int) -> list[tuple[int, int]]:
    """The layer pairs ``(l, l + 1)`` of a chain of ``n_layers`` layers."""
    return [(i, i + 1) for i in range(int(n_layers) - 1)]


def _normal_quantiles(n: int) -> np.ndarray:
    return ndtri(np.arange(1, n + 1) / (n + 1.0))


def tie_broken_scores(a: np.ndarray, seed: int, out: np.ndarray | None = None) -> np.ndarray:
    """Normal scores by rank with ties broken at random; constant columns become 0.

    Parameters
    ----------
    a : ndarray, shape (n_samples, n_cols)
    seed : int, draws the tie keys.
    out : float64 array of ``a``'s shape to write the scores into (e.g. a file-backed scratch
        array, :func:`nifgraph._scratch.scratch_arrays`); a new array by default.

    Returns
    -------
    ndarray, shape (n_samples, n_cols): each non-constant column is a permutation of the
    normal quantiles ``Φ⁻¹(j / (n + 1))``, ordered as the column (ties in random order).
    """
    from .mi._validate import column_spans

    a = a if getattr(a, "dtype", None) == np.float32 else np.asarray(a, dtype=np.float64)
    n, c = a.shape
    rng = np.random.default_rng([int(seed), _SEED_TIES])
    quantiles = _normal_quantiles(n)
    if out is not None and (out.shape != (n, c) or out.dtype != np.float64):
        raise ValueError(f"out must be a float64 array of shape {(n, c)}; got {out.dtype} {out.shape}")
    z = np.empty((n, c)) if out is None else out
    # a block of columns at a time: the keys are drawn column after column either way, so the
    # result is the whole-layer one, without its sort temporaries (~5 copies of the layer)
    for s, e in column_spans(c, n):
        blk = np.asarray(a[:, s:e], dtype=np.float64)
        keys = rng.random((e - s, n))
        order = np.lexsort((keys, blk.T), axis=-1)  # (w, n): per column, by value then tie key
        ranks = np.empty_like(order)
        np.put_along_axis(ranks, order, np.arange(n)[None, :].repeat(e - s, 0), axis=-1)
        zb = quantiles[ranks].T  # (n, w)
        zb[:, np.all(blk == blk[:1], axis=0)] = 0.0
        z[:, s:e] = zb
    return z


def null_scores(acts: Sequence[np.ndarray], seed: int) -> list[np.ndarray]:
    """Every layer's :func:`tie_broken_scores` (layer ``l`` drawn with ``seed + l``), the arrays
    a permutation-null estimate runs on. When they total more than ``NIFGRAPH_MMAP_MIB`` (float64,
    default 256 MiB) they are written into file-backed scratch arrays in ``$TMPDIR`` whose names
    are already unlinked (:func:`nifgraph._scratch.scratch_arrays`), so their pages can leave
    memory like the mapped activations'; the values are the same either way."""
    from ._scratch import scratch_arrays
    from .config import mmap_above_mib

    mib = 8 * sum(int(a.shape[0]) * int(a.shape[1]) for a in acts) / 2**20
    outs: list[np.ndarray | None] = [None] * len(acts)
    if mib > mmap_above_mib():
        outs = list(scratch_arrays([a.shape for a in acts], np.float64, prefix="nifgraph-scores-",
                                   what="the null's normal scores"))
    return [tie_broken_scores(a, seed + l, out=o) for l, (a, o) in enumerate(zip(acts, outs, strict=True))]  # noqa: E741


def _constant(a: np.ndarray) -> np.ndarray:
    return np.all(a == a[:1], axis=0)


def _null_plan(live_x: int, live_q: int, draws: int) -> tuple[str, int]:
    """Which side gets ``k`` permuted columns so that ``k × (live columns of the other side)``
    null pairs reach ``draws``: the side facing the most live columns."""
    if live_x == 0 or live_q == 0:
        return "q", 0
    if live_x >= live_q:
        return "q", -(-int(draws) // live_x)
    return "x", -(-int(draws) // live_q)


def pairwise_with_null(
    x: np.ndarray,
    q: np.ndarray,
    estimator: str,
    draws: int = DEFAULT_NULL_DRAWS,
    *,
    seed: int = 0,
    progress: ProgressFn | None = None,
    edges: np.ndarray | None = None,
    **options: Any,
) -> tuple[np.ndarray, np.ndarray, int]:
    """:func:`nifgraph.mi.pairwise` of ``x (N, a)`` and ``q (N, b)`` with null draws batched in.

    ``k`` extra columns -- the layer's own live columns, cycled, each with its rows shuffled
    -- are appended to one side, so one call estimates the ``a × b`` edges and ``≥ draws``
    null pairs (a live column against a shuffled one) under the same held-out split,
    minibatches and shuffles. Valid as a null for *every* edge only when all live columns
    share one marginal, i.e. after :func:`tie_broken_scores`. ``edges (a, b)``: estimate only
    these edges (others 0); the null pairs are always estimated, with the same values.

    Returns
    -------
    relevance : ndarray (a, b); null : sorted ndarray (M,), M ≥ draws (empty if a side has
    no live column); extra : number of extra pairs the call estimated.
    """
    from . import mi

    lx, lq = ~_constant(x), ~_constant(q)
    side, k = _null_plan(int(lx.sum()), int(lq.sum()), draws)
    if k == 0:
        return mi.pairwise(x, q, estimator, seed=seed, progress=progress, edges=edges, **options), np.zeros(0), 0
    rng = np.random.default_rng([int(seed), _SEED_NULL])
    own = (q[:, lq] if side == "q" else x[:, lx]).T  # (live, N)
    src = np.resize(rng.permutation(own.shape[0]), k)  # cycle through the live columns
    shuffled = rng.permuted(own[src], axis=1).T  # (N, k) rows shuffled per column
    a, b = x.shape[1], q.shape[1]
    if side == "q":
        mask = None if edges is None else np.hstack([edges, np.ones((a, k), dtype=bool)])
        est = mi.pairwise(x, np.hstack([q, shuffled]), estimator, seed=seed, progress=progress, edges=mask, **options)
        rel, null, extra = est[:, :b], est[lx, b:], a * k
    else:
        mask = None if edges is None else np.vstack([edges, np.ones((k, b), dtype=bool)])
        est = mi.pairwise(np.hstack([x, shuffled]), q, estimator, seed=seed, progress=progress, edges=mask, **options)
        rel, null, extra = est[:a], est[a:][:, lq], k * b
    return np.asarray(rel, dtype=np.float64), np.sort(np.asarray(null, dtype=np.float64).ravel()), extra


def permutation_pvalues(obs: np.ndarray, null_sorted: np.ndarray) -> np.ndarray:
    """``(1 + #{null ≥ obs}) / (1 + M)`` for every entry of ``obs`` (same shape)."""
    null_sorted = np.asarray(null_sorted, dtype=np.float64)
    m = null_sorted.size
    ge = m - np.searchsorted(null_sorted, np.asarray(obs, dtype=np.float64), side="left")
    return (1.0 + ge) / (1.0 + m)


def bh_qvalues(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values), same shape as ``p``.

    ``q_(i) = min_{j ≥ i} min(1, m · p_(j) / j)`` over the ``m`` values sorted ascending
    (Benjamini & Hochberg 1995); an edge is significant at FDR ``alpha`` when ``q ≤ alpha``.
    """
    arr = np.asarray(p, dtype=np.float64)
    flat = arr.ravel()
    if flat.size == 0:
        return arr.copy()
    if not np.all((flat >= 0) & (flat <= 1)):
        raise ValidationError("bh_qvalues: p-values must lie in [0, 1] (no NaN).")
    m = flat.size
    order = np.argsort(flat, kind="stable")
    scaled = flat[order] * m / np.arange(1, m + 1)
    q = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    out = np.empty(m)
    out[order] = q
    return out.reshape(arr.shape)


# -- the whole run -------------------------------------------------------------------
@dataclass(frozen=True)
class Significance:
    """Per layer pair matrices ``(n_l, n_{l+1})`` and the settings to record with the run.

    ``relevance`` is the (bias-corrected, if asked) relevance term; ``extras`` maps the
    edge-table columns ``p_value``, ``q_value``, ``ci_low``, ``ci_high`` to matrices
    (NaN where not computed); ``nulls`` the sorted null draws of each layer pair.
    """

    relevance: list[np.ndarray] = field(repr=False)
    extras: dict[str, list[np.ndarray]] = field(repr=False)
    nulls: list[np.ndarray] = field(repr=False)
    settings: dict[str, Any] = field(default_factory=dict)


def assess(
    acts: Sequence[np.ndarray],
    relevance: Sequence[np.ndarray],
    spec: SignificanceSpec,
    *,
    nulls: Sequence[np.ndarray] = (),
    estimator: str,
    seed: int = 0,
    beta: float = 0.0,
    redundancy: Sequence[np.ndarray] | None = None,
    progress: ProgressFn | None = None,
    pairs: Sequence[tuple[int, int]] | None = None,
    **options: Any,
) -> Significance:
    """p-values, q-values and intervals for every edge of a run.

    Parameters
    ----------
    acts : list of arrays (n_samples, n_l)
        The activations the relevance was estimated on -- with ``spec.null`` they must be
        :func:`tie_broken_scores` (``estimate_nif`` does this).
    relevance : list of arrays (n_l, n_{l+1})
        The estimated I(X_i; Q_k) per layer pair.
    spec : SignificanceSpec
    nulls : list of sorted arrays, one per layer pair
        The null draws :func:`pairwise_with_null` returned with each relevance matrix
        (needed when ``spec.null``).
    estimator, seed, **options
        As given to the estimate (the half-samples use derived seeds).
    beta, redundancy
        To turn relevance intervals into value intervals (``max(rel − β·red, 0)``).
    pairs : list of (source layer, target layer), one per relevance matrix
        The layer pairs the matrices join (a DAG model's :attr:`nifgraph.dag.FlowDag.pairs`,
        skips included); default a chain's ``(l, l + 1)``. BH runs over every edge of every pair.
    """
    from . import mi

    n = int(acts[0].shape[0])
    rel = [np.asarray(r, dtype=np.float64) for r in relevance]
    red = [np.zeros_like(r) for r in rel] if redundancy is None else list(redundancy)
    pairs = chain_pairs(len(rel) + 1) if pairs is None else [(int(a), int(b)) for a, b in pairs]
    if len(pairs) != len(rel):
        raise ValidationError(f"assess: {len(rel)} relevance matrices for {len(pairs)} layer pairs; pass one per pair.")
    const = [np.all(a == a[:1], axis=0) for a in acts]
    live = [~const[a][:, None] & ~const[b][None, :] for a, b in pairs]
    total = int(spec.bootstrap) * sum(r.size for r in rel)
    done = 0

    def sub(base: int) -> ProgressFn | None:
        return None if progress is None else (lambda d, _t: progress(base + d, total))

    nan = [np.full_like(r, np.nan) for r in rel]
    extras = {c: [m.copy() for m in nan] for c in SIGNIFICANCE_COLUMNS}
    settings: dict[str, Any] = {
        "null": bool(spec.null),
        "bias_correct": bool(spec.bias_correct),
        "bootstrap": int(spec.bootstrap),
    }
    nulls = [np.sort(np.asarray(nl, dtype=np.float64)) for nl in nulls]
    if spec.null:
        if len(nulls) != len(rel) or any(nl.size == 0 and lv.any() for nl, lv in zip(nulls, live, strict=False)):
            raise ValidationError("assess: spec.null needs one non-empty null per layer pair (pairwise_with_null).")
        pvals = [
            np.where(lv, permutation_pvalues(r, nl) if nl.size else 1.0, 1.0)
            for r, nl, lv in zip(rel, nulls, live, strict=True)
        ]
        flat_q = bh_qvalues(np.concatenate([p.ravel() for p in pvals]))
        cuts = np.cumsum([p.size for p in pvals])[:-1]
        extras["p_value"] = pvals
        extras["q_value"] = [q.reshape(p.shape) for q, p in zip(np.split(flat_q, cuts), pvals, strict=True)]
        means = [float(nl.mean()) if nl.size else 0.0 for nl in nulls]
        if spec.bias_correct:
            rel = [
                np.where(lv, np.clip(r - mu, 0.0, None), 0.0)
                for r, mu, lv in zip(rel, means, live, strict=True)
            ]
            settings["bias_correction"] = means
        settings.update(
            null_method="permutation null pooled per layer pair, batched into the estimate's "
            "call; rank-to-normal scores with random tie-breaking",
            null_draws=[int(nl.size) for nl in nulls],
            null_mean=means,
            null_q95=[float(np.quantile(nl, 0.95)) if nl.size else 0.0 for nl in nulls],
            null_q99=[float(np.quantile(nl, 0.99)) if nl.size else 0.0 for nl in nulls],
            multiple_testing="benjamini-hochberg over all edges of the run",
        )
    if spec.bootstrap:
        rng = np.random.default_rng([int(seed), _SEED_BOOT])
        m = n // 2
        reps = [np.empty((int(spec.bootstrap), *r.shape)) for r in rel]
        for b in range(int(spec.bootstrap)):  # a loop over half-samples; each call is batched
            rows = np.sort(rng.choice(n, size=m, replace=False))
            for l, (a, b_) in enumerate(pairs):  # noqa: E741 - pair index
                est = mi.pairwise(
                    acts[a][rows], acts[b_][rows], estimator,
                    seed=int(seed) + _SEED_BOOT + 1000 * b + l, progress=sub(done), **options,
                )
                reps[l][b] = est
                done += rel[l].size
        z = float(ndtri(0.5 + spec.ci_level / 2))
        for l, (r, rp, rd, lv) in enumerate(zip(rel, reps, red, live, strict=True)):  # noqa: E741
            sd = np.where(lv, rp.std(axis=0, ddof=1), 0.0)
            extras["ci_low"][l] = np.clip(r - z * sd - beta * rd, 0.0, None)
            extras["ci_high"][l] = np.clip(r + z * sd - beta * rd, 0.0, None)
        settings.update(
            bootstrap_method="half-samples without replacement (N/2 rows), normal interval",
            ci_level=float(spec.ci_level),
        )
    return Significance(relevance=rel, extras=extras, nulls=nulls, settings=settings)

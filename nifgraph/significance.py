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
the ``N`` normal quantiles ``Φ⁻¹(j / (N + 1))`` in some order. MI is unchanged (the scores
are a strictly monotone function of the value together with an independent uniform tie key:
the value is a function of the score, and the key is independent of everything), but now
every column has the *same* marginal, so under independence every edge -- of every layer
pair of the run -- sees the same joint distribution: two independent random orderings of the
same quantile vector. One pooled null of ``M`` draws (:func:`null_distribution`, default
1000, estimated by one batched :func:`nifgraph.mi.pairwise` call on ``⌈√M⌉ × ⌈M/⌈√M⌉⌉``
independently permuted quantile columns) therefore serves every edge of the run, and the
permutation p-value ``(1 + #{null ≥ obs}) / (1 + M)`` is valid for each edge, not only on
average over a layer.

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

Pure: arrays in, arrays and frozen dataclasses out; :func:`run_agreement` only reads a store.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtri

from .errors import ValidationError, param_error

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_NULL_DRAWS",
    "SIGNIFICANCE_COLUMNS",
    "SignificanceSpec",
    "Significance",
    "Agreement",
    "tie_broken_scores",
    "null_distribution",
    "permutation_pvalues",
    "bh_qvalues",
    "assess",
    "agreement",
    "run_agreement",
]

#: Default false-discovery rate for "significant" (``--alpha``).
DEFAULT_ALPHA = 0.05
#: Default size of the pooled permutation null (one per run).
DEFAULT_NULL_DRAWS = 1000
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
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 100:
            raise param_error("null_draws", owner, "an int ≥ 100", d)
        b = self.bootstrap
        if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 0 or b == 1:
            raise param_error("bootstrap", owner, "0 (no interval) or an int ≥ 2", b)
        if self.bias_correct and not self.null:
            raise ValidationError(
                f"{owner}: bias correction subtracts the permutation-null mean; turn the null on "
                "(null=True / --null) or drop bias_correct."
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

    def null_shape(self) -> tuple[int, int]:
        """Columns ``(s, t)`` of the null block: ``s · t ≥ null_draws``, ``s ≈ t``."""
        s = math.isqrt(int(self.null_draws) - 1) + 1
        return s, -(-int(self.null_draws) // s)

    def work(self, sizes: Sequence[int]) -> int:
        """Extra pair estimates (for progress bars): null draws + half-sample re-estimates."""
        pairs = sum(sizes[i] * sizes[i + 1] for i in range(len(sizes) - 1))
        s, t = self.null_shape()
        return (s * t if self.null else 0) + int(self.bootstrap) * pairs


# -- building blocks ---------------------------------------------------------------------
def _normal_quantiles(n: int) -> np.ndarray:
    return ndtri(np.arange(1, n + 1) / (n + 1.0))


def tie_broken_scores(a: np.ndarray, seed: int) -> np.ndarray:
    """Normal scores by rank with ties broken at random; constant columns become 0.

    Parameters
    ----------
    a : ndarray, shape (n_samples, n_cols)
    seed : int, draws the tie keys.

    Returns
    -------
    ndarray, shape (n_samples, n_cols): each non-constant column is a permutation of the
    normal quantiles ``Φ⁻¹(j / (n + 1))``, ordered as the column (ties in random order).
    """
    a = np.asarray(a, dtype=np.float64)
    n, c = a.shape
    rng = np.random.default_rng([int(seed), _SEED_TIES])
    keys = rng.random((c, n))
    order = np.lexsort((keys, a.T), axis=-1)  # (c, n): per column, by value then tie key
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(n)[None, :].repeat(c, 0), axis=-1)
    z = _normal_quantiles(n)[ranks].T  # (n, c)
    z[:, np.all(a == a[:1], axis=0)] = 0.0
    return z


def null_distribution(
    n_samples: int,
    estimator: str,
    *,
    draws: int = DEFAULT_NULL_DRAWS,
    seed: int = 0,
    progress: ProgressFn | None = None,
    **options: Any,
) -> np.ndarray:
    """The estimator's pooled permutation null for tie-broken normal scores, sorted ``(M,)``.

    ``s × t`` independent pairs (``s · t ≥ draws``) of randomly ordered normal-quantile
    columns, estimated in one batched :func:`nifgraph.mi.pairwise` call.
    """
    from . import mi

    s, t = SignificanceSpec(null=True, null_draws=draws).validate("null_distribution").null_shape()
    rng = np.random.default_rng([int(seed), _SEED_NULL])
    z = _normal_quantiles(int(n_samples))
    xs = rng.permuted(np.tile(z, (s, 1)), axis=1).T  # (N, s) independent orderings
    qs = rng.permuted(np.tile(z, (t, 1)), axis=1).T  # (N, t)
    est = mi.pairwise(xs, qs, estimator, seed=int(seed) + _SEED_NULL, progress=progress, **options)
    return np.sort(np.asarray(est, dtype=np.float64).ravel())


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
    (NaN where not computed); ``null`` the sorted pooled null draws.
    """

    relevance: list[np.ndarray] = field(repr=False)
    extras: dict[str, list[np.ndarray]] = field(repr=False)
    null: np.ndarray = field(repr=False)
    settings: dict[str, Any] = field(default_factory=dict)


def assess(
    acts: Sequence[np.ndarray],
    relevance: Sequence[np.ndarray],
    spec: SignificanceSpec,
    *,
    estimator: str,
    seed: int = 0,
    beta: float = 0.0,
    redundancy: Sequence[np.ndarray] | None = None,
    progress: ProgressFn | None = None,
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
    estimator, seed, **options
        As given to the estimate (the null and half-samples use derived seeds).
    beta, redundancy
        To turn relevance intervals into value intervals (``max(rel − β·red, 0)``).
    """
    from . import mi

    n = int(acts[0].shape[0])
    rel = [np.asarray(r, dtype=np.float64) for r in relevance]
    red = [np.zeros_like(r) for r in rel] if redundancy is None else list(redundancy)
    const = [np.all(a == a[:1], axis=0) for a in acts]
    live = [~const[l][:, None] & ~const[l + 1][None, :] for l in range(len(rel))]  # noqa: E741
    s, t = spec.null_shape()
    total = spec.work([a.shape[1] for a in acts])
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
    null = np.zeros(0)
    if spec.null:
        null = null_distribution(n, estimator, draws=spec.null_draws, seed=seed, progress=sub(0), **options)
        done += s * t
        pvals = [np.where(lv, permutation_pvalues(r, null), 1.0) for r, lv in zip(rel, live, strict=True)]
        flat_q = bh_qvalues(np.concatenate([p.ravel() for p in pvals]))
        cuts = np.cumsum([p.size for p in pvals])[:-1]
        extras["p_value"] = pvals
        extras["q_value"] = [q.reshape(p.shape) for q, p in zip(np.split(flat_q, cuts), pvals, strict=True)]
        null_mean = float(null.mean())
        if spec.bias_correct:
            rel = [np.where(lv, np.clip(r - null_mean, 0.0, None), 0.0) for r, lv in zip(rel, live, strict=True)]
        settings.update(
            null_method="pooled permutation null, rank-to-normal scores with random tie-breaking",
            null_draws=int(null.size),
            null_mean=null_mean,
            null_q95=float(np.quantile(null, 0.95)),
            null_q99=float(np.quantile(null, 0.99)),
            multiple_testing="benjamini-hochberg over all edges of the run",
        )
        if spec.bias_correct:
            settings["bias_correction"] = null_mean
    if spec.bootstrap:
        rng = np.random.default_rng([int(seed), _SEED_BOOT])
        m = n // 2
        reps = [np.empty((int(spec.bootstrap), *r.shape)) for r in rel]
        for b in range(int(spec.bootstrap)):  # a loop over half-samples; each call is batched
            rows = np.sort(rng.choice(n, size=m, replace=False))
            for l in range(len(rel)):  # noqa: E741 - layer index
                est = mi.pairwise(
                    acts[l][rows], acts[l + 1][rows], estimator,
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
    return Significance(relevance=rel, extras=extras, null=null, settings=settings)


# -- agreement of two runs ------------------------------------------------------------
_KEY = ["src_layer", "src_idx", "dst_layer", "dst_idx"]


@dataclass(frozen=True)
class Agreement:
    """How far two runs of the same model agree.

    ``spearman``: rank correlation of the edge values; ``decision_agreement``: share of
    edges whose significance decision (``q ≤ alpha``) is the same in both runs (NaN when a
    run has no q-values); ``flips``: the edges whose decision differs, with neuron names.
    """

    run_a: str
    run_b: str
    n_edges: int
    spearman: float
    alpha: float
    has_decisions: bool
    decision_agreement: float
    n_significant_a: int
    n_significant_b: int
    flips: pd.DataFrame = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_a": self.run_a, "run_b": self.run_b, "n_edges": self.n_edges,
            "spearman": self.spearman, "alpha": self.alpha, "has_decisions": self.has_decisions,
            "decision_agreement": self.decision_agreement,
            "n_significant_a": self.n_significant_a, "n_significant_b": self.n_significant_b,
            "n_flips": int(len(self.flips)), "flips": self.flips.to_dict(orient="records"),
        }


def agreement(
    edges_a: pd.DataFrame,
    edges_b: pd.DataFrame,
    *,
    alpha: float = DEFAULT_ALPHA,
    neurons: pd.DataFrame | None = None,
    run_a: str = "a",
    run_b: str = "b",
) -> Agreement:
    """Compare the edge tables (``EDGE_COLUMNS``) of two runs of the same model.

    ``neurons`` (``NEURON_COLUMNS``) names the flipping edges' ends.
    """
    from scipy.stats import spearmanr

    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise param_error("alpha", "agreement", "in (0, 1)", alpha)
    cols = [*_KEY, "value", "q_value"]
    m = edges_a[cols].merge(edges_b[cols], on=_KEY, how="outer", suffixes=("_a", "_b"), indicator=True)
    if not (m["_merge"] == "both").all():
        raise ValidationError(
            f"Runs {run_a} and {run_b} do not have the same edges; compare two runs of the same model."
        )
    m = m.drop(columns="_merge").sort_values(_KEY).reset_index(drop=True)
    va, vb = m["value_a"].to_numpy(float), m["value_b"].to_numpy(float)
    rho = float("nan")
    if len(m) > 1 and np.ptp(va) > 0 and np.ptp(vb) > 0:
        rho = float(spearmanr(va, vb).statistic)
    qa, qb = m["q_value_a"].to_numpy(float), m["q_value_b"].to_numpy(float)
    has = bool(len(m)) and not (np.isnan(qa).any() or np.isnan(qb).any())
    sig_a, sig_b = qa <= alpha, qb <= alpha
    flip = (sig_a != sig_b) if has else np.zeros(len(m), dtype=bool)
    flips = m[flip].assign(significant_a=sig_a[flip], significant_b=sig_b[flip])
    if neurons is not None and len(flips):
        names = neurons.set_index(["layer", "idx"])["name"].astype(str)
        src = pd.MultiIndex.from_arrays([flips["src_layer"], flips["src_idx"]])
        dst = pd.MultiIndex.from_arrays([flips["dst_layer"], flips["dst_idx"]])
        flips = flips.assign(
            src_name=names.reindex(src).to_numpy(), dst_name=names.reindex(dst).to_numpy()
        )
    return Agreement(
        run_a=run_a,
        run_b=run_b,
        n_edges=int(len(m)),
        spearman=rho,
        alpha=float(alpha),
        has_decisions=has,
        decision_agreement=float(np.mean(~flip)) if has else float("nan"),
        n_significant_a=int(sig_a.sum()) if has else 0,
        n_significant_b=int(sig_b.sum()) if has else 0,
        flips=flips.reset_index(drop=True),
    )


def run_agreement(store: Any, ref_a: str, ref_b: str, *, alpha: float = DEFAULT_ALPHA) -> Agreement:
    """:func:`agreement` of two stored runs (ids, prefixes or model ids: their newest run)."""
    from .errors import NotFoundError

    runs = []
    for ref in (ref_a, ref_b):
        model, run = store.resolve(ref)
        if run is None:
            raise NotFoundError(f"Model {model.model_id} has no NIF run yet; run `nifgraph estimate {model.model_id}` first.")
        runs.append((model, run))
    (ma, ra), (mb, rb) = runs
    if ma.model_id != mb.model_id:
        raise ValidationError(
            f"Runs {ra.run_id} and {rb.run_id} belong to different models ({ma.model_id}, "
            f"{mb.model_id}); agreement compares two runs of the same model."
        )
    return agreement(
        store.get_edges(ra.run_id), store.get_edges(rb.run_id), alpha=alpha,
        neurons=store.get_neurons(ma.model_id), run_a=ra.run_id, run_b=rb.run_id,
    )

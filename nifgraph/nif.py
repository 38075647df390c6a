"""NIF estimation: the mutual information flowing along every edge of a network.

For consecutive layers with activations ``X`` (N, a) and ``Q`` (N, b) the NIF of edge
``i → k`` is (Davis et al. 2019, Eq. 3)::

    NIF(i → k) = max( relevance(i, k) − β · Σ_{j<i} I(X_i; X_j), 0 )

with two choices of the relevance term:

* ``variant="pairwise"`` (default): relevance = I(X_i; Q_k), the information between the
  two neurons the edge joins. Edges into the same neuron differ, which is what the paper's
  figures draw and what attribution, betweenness and pruning need.
* ``variant="layer"`` (the paper's literal Eq. 3): relevance = I(X; Q_k) with ``X`` the whole
  previous layer. All edges into ``k`` then share one relevance value and differ only by the
  redundancy term, so with β = 0 every incoming edge of a neuron is equal: it measures how
  much the layer tells the neuron, not which input does.

The redundancy term (Bollacker & Ghosh 1996) penalises input ``i`` for what earlier inputs
``j < i`` of the same layer already carry; β = 0 by default, as the paper assumes
independent features on Iris. It depends on the (arbitrary) neuron order — that is the
paper's definition, kept as is.

Pure: arrays in, :class:`NifResult` out. Estimation goes through :func:`nifgraph.mi.pairwise`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .errors import ValidationError, param_error
from .records import EDGE_COLUMNS

if TYPE_CHECKING:  # pragma: no cover
    from .significance import SignificanceSpec

__all__ = [
    "NifResult", "estimate_nif", "edges_frame", "pair_edges", "matrices_from_edges", "screen_candidates", "VARIANTS",
    "SCREENS", "SLICE_ROWS",
]

VARIANTS = ("pairwise", "layer")
#: Fast screens of the two-stage mode (``screen=``): only their candidate edges go to MINE/SMILE.
SCREENS = ("gcmi",)
#: Default p-value at or under which the screen sends an edge on (docs/estimators.md, "Screening").
DEFAULT_SCREEN_ALPHA = 0.05
ProgressFn = Callable[[int, int], None]
#: ``on_pair(l, matrices)`` of :func:`estimate_nif`: layer pair ``l``'s final matrices by edge column.
PairFn = Callable[[int, dict[str, np.ndarray]], None]
#: Most edges in one slice of the edge table (:func:`pair_edges`): what a run being written holds
#: of its edges as a frame at a time (~15 MB), however large its layer pairs are.
SLICE_ROWS = 131_072


@dataclass(frozen=True)
class NifResult:
    """Per layer pair ``l`` (layer l → l+1) matrices of shape (n_l, n_{l+1}), in nats."""

    layer_sizes: tuple[int, ...]
    values: list[np.ndarray] = field(repr=False)
    relevance: list[np.ndarray] = field(repr=False)
    redundancy: list[np.ndarray] = field(repr=False)
    estimator: str = "mine"
    beta: float = 0.0
    variant: str = "pairwise"
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    n_samples: int = 0
    elapsed_s: float = 0.0
    #: optional per-edge significance (issue: trustworthy flow), same shapes as ``values``
    extras: dict[str, list[np.ndarray]] = field(default_factory=dict, repr=False)
    #: settings of the significance computation (null, bootstrap, ...); empty when off
    significance: dict[str, Any] = field(default_factory=dict)
    #: where the estimates were computed ("cpu", "cuda", ...; "auto" resolved)
    device: str = "cpu"
    #: the two-stage screen's settings and counts (method, alpha, candidates, edges); empty when off
    screen: dict[str, Any] = field(default_factory=dict)

    @property
    def normalized(self) -> list[np.ndarray]:
        out = []
        for v in self.values:
            m = float(v.max()) if v.size else 0.0
            out.append(v / m if m > 0 else np.zeros_like(v))
        return out

    @property
    def n_edges(self) -> int:
        return int(sum(v.size for v in self.values))


def _check_acts(acts: Sequence[np.ndarray]) -> list[np.ndarray]:
    if len(acts) < 2:
        raise ValidationError("NIF needs at least two layers of activations (inputs and outputs).")
    out = []
    n = None
    for i, a in enumerate(acts):
        arr = np.asarray(a)  # float32 stays float32 (and a memory map a map): every estimator
        if arr.dtype not in (np.float32, np.float64):  # takes one pair at a time to float64
            arr = np.asarray(arr, dtype=np.float64)
        if arr.ndim != 2:
            raise ValidationError(f"Activations of layer {i} must be 2-D (n_samples, n_neurons); got shape {arr.shape}.")
        if n is None:
            n = arr.shape[0]
        elif arr.shape[0] != n:
            raise ValidationError(
                f"Layer {i} has {arr.shape[0]} samples but layer 0 has {n}; record all layers on the same inputs."
            )
        if not all(np.isfinite(arr[s:s + 65536]).all() for s in range(0, arr.shape[0], 65536)):  # rows in blocks
            raise ValidationError(f"Activations of layer {i} contain NaN or inf; check the model and the inputs.")
        out.append(arr)
    return out


def screen_candidates(x: np.ndarray, q: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """The GCMI screen of one layer pair: ``(values (a, b), candidates (a, b) bool)``.

    ``values`` is the Gaussian-copula MI (nats, a lower bound); an edge is a candidate when
    its likelihood-ratio p-value ``P(chi2_1 >= 2 N I)`` (the exact large-N test of zero
    correlation of the normal scores) is at most ``alpha``. Constant columns are never candidates.
    """
    from scipy.stats import chi2

    from . import mi

    g = mi.pairwise(x, q, "gcmi")
    p = chi2.sf(2.0 * x.shape[0] * g, 1)
    live = ~np.all(x == x[:1], axis=0)[:, None] & ~np.all(q == q[:1], axis=0)[None, :]
    return g, live & (p <= alpha)


def estimate_nif(
    acts: Sequence[np.ndarray],
    *,
    estimator: str = "mine",
    beta: float = 0.0,
    variant: str = "pairwise",
    seed: int = 0,
    progress: ProgressFn | None = None,
    null: bool = False,
    null_draws: int | None = None,
    bootstrap: int = 0,
    bias_correct: bool = False,
    significance: SignificanceSpec | None = None,
    workers: int | None = None,
    device: str = "auto",
    ray: str | None = None,
    screen: str | None = None,
    screen_alpha: float = DEFAULT_SCREEN_ALPHA,
    on_pair: PairFn | None = None,
    **options: Any,
) -> NifResult:
    """Estimate the NIF of every edge of a layered network.

    Parameters
    ----------
    acts : list of arrays (n_samples, n_l)
        Activations per layer, inputs first (see :func:`nifgraph.network.record_activations`).
    estimator : str
        A method of :data:`nifgraph.mi.METHODS` (``"mine"``: the paper's estimator).
    beta : float
        Weight of the redundancy term (≥ 0; 0 = assume independent inputs).
    variant : {"pairwise", "layer"}
        Relevance term: I(X_i; Q_k) or the paper's literal I(X; Q_k).
    seed : int
        Seeds every estimator call (layer pair ``l`` uses ``seed + l``): reproducible.
    progress : callable(done, total), optional
        Called as edges finish, across all layer pairs.
    null : bool
        Pooled permutation null (:mod:`nifgraph.significance`): fills ``extras`` with
        ``p_value`` and Benjamini-Hochberg ``q_value``. Every column is first mapped to
        normal scores by rank with random tie-breaking (MI unchanged), so the values can
        differ slightly from a run without the null.
    null_draws : int, optional
        Size of the pooled null (default :data:`nifgraph.significance.DEFAULT_NULL_DRAWS`).
    bootstrap : int
        Half-samples for the ``ci_low`` / ``ci_high`` interval (0 = none).
    bias_correct : bool
        Subtract the null mean from the relevance term (needs ``null``).
    significance : SignificanceSpec, optional
        The four settings above as one object (the pipeline passes its validated settings
        whole); when given, ``null``, ``null_draws``, ``bootstrap`` and ``bias_correct`` are ignored.
    workers : None (every core) or int ≥ 1
        Worker processes of every estimator call (:func:`nifgraph.mi.pairwise`); the values
        do not depend on it.
    device : {"auto", "cpu", "cuda"}
        Where the neural estimators run (the estimate, the null, the half-samples).
    ray : None, "local", "auto" or a head address "HOST:PORT"
        Train the neural estimators' edges as tasks on that Ray cluster (``nifgraph[ray]``);
        the same values as without (see :func:`nifgraph.mi.pairwise`).
    screen : None or "gcmi"
        Two-stage mode (MINE/SMILE, ``variant="pairwise"``): a GCMI screen first
        (:func:`screen_candidates`); only its candidates (p ≤ ``screen_alpha``) are estimated
        by ``estimator``, with exactly the values a full run gives them; every other edge keeps
        the GCMI value (a lower bound, below the test's critical value ``chi2_1(1 - alpha) / 2N``
        nats) and ``extras["screened"] = 1`` (0 for estimated edges). With ``null`` those edges
        are tested against the same pooled null. The redundancy term (β > 0) and the
        half-samples are not screened.
    screen_alpha : float in (0, 1]
        The screen's p-value cut (default 0.05); 1 sends every live edge on.
    on_pair : callable(l, matrices), optional
        Called once per layer pair, in order, as soon as its matrices are final -- right after
        the pair is estimated, or with significance (whose q-values and bias correction need
        every pair) after the assessment: ``matrices`` maps ``value``, ``relevance``,
        ``redundancy`` and every column of ``extras`` to that pair's ``(n_l, n_{l+1})`` matrix,
        the same arrays the result holds (so a caller can write the run's edges while the next
        pair is estimated: :func:`pair_edges`).
    **options
        Passed to the estimator (e.g. ``steps``, ``batch_size`` for MINE).
    """
    from . import mi

    acts = _check_acts(acts)
    if variant not in VARIANTS:
        raise param_error("variant", "estimate_nif", f"one of {VARIANTS}", variant)
    if not (np.isfinite(beta) and beta >= 0):
        raise param_error("beta", "estimate_nif", "a non-negative number", beta)
    if estimator not in mi.METHODS:
        raise ValidationError(f"Unknown estimator {estimator!r}; choose one of {', '.join(mi.METHODS)}.")
    mi.check_where(workers, device, "estimate_nif", ray=ray)
    check_screen(screen, screen_alpha, estimator, variant, "estimate_nif")
    device = mi.ray_device(ray, device)  # on a Ray cluster: the device of its tasks
    where = {"workers": workers, "device": device, "ray": ray}  # every estimator call below runs there
    from . import significance as sig

    spec = (significance or sig.SignificanceSpec(
        null=null, null_draws=sig.DEFAULT_NULL_DRAWS if null_draws is None else null_draws,
        bootstrap=bootstrap, bias_correct=bias_correct,
    )).validate("estimate_nif", variant)
    if spec.null:  # one marginal for every column: the pooled null then fits every edge
        acts = sig.null_scores(acts, seed)
    sizes = tuple(a.shape[1] for a in acts)
    pairs_total = sum(sizes[i] * sizes[i + 1] for i in range(len(sizes) - 1))
    red_total = sum(s * s for s in sizes[:-1]) if beta > 0 else 0
    total = pairs_total + red_total + (spec.work(acts) if spec.active else 0)
    done = 0

    def sub_progress(base: int) -> ProgressFn | None:
        if progress is None:
            return None
        return lambda d, _t: progress(base + d, total)

    t0 = time.perf_counter()
    relevance, redundancy, values, nulls, screened = [], [], [], [], []
    for l in range(len(acts) - 1):  # noqa: E741 - layer index
        x, q = acts[l], acts[l + 1]
        screen_values, cand = screen_candidates(x, q, screen_alpha) if screen else (None, None)
        if variant == "pairwise" and spec.null:  # null draws batched into the same call
            rel, null_l, extra = sig.pairwise_with_null(
                x, q, estimator, spec.null_draws, seed=seed + l, progress=sub_progress(done), edges=cand,
                **where, **options,
            )
            nulls.append(null_l)
            done += extra
        elif variant == "pairwise":
            rel = mi.pairwise(x, q, estimator, seed=seed + l, progress=sub_progress(done), edges=cand, **where, **options)
        else:
            col = mi.joint(x, q, estimator, seed=seed + l, progress=sub_progress(done), **where, **options)
            rel = np.repeat(np.asarray(col)[None, :], x.shape[1], axis=0)
        done += x.shape[1] * q.shape[1]
        rel = np.clip(np.asarray(rel, dtype=np.float64), 0.0, None)
        if cand is not None:  # the screen's value where the edge was not sent on
            live = ~np.all(x == x[:1], axis=0)[:, None] & ~np.all(q == q[:1], axis=0)[None, :]
            rel = np.where(cand, rel, screen_values)
            screened.append((live & ~cand).astype(np.float64))
        if beta > 0:
            within = mi.pairwise(
                x, x, estimator, seed=seed + 1000 + l, progress=sub_progress(done), **where, **options
            )
            done += x.shape[1] ** 2
            within = np.clip(np.asarray(within, dtype=np.float64), 0.0, None)
            # Σ_{j<i} I(X_i; X_j): strictly lower triangle, summed along j
            red_vec = np.tril(within, k=-1).sum(axis=1)
        else:
            red_vec = np.zeros(x.shape[1])
        red = np.repeat(red_vec[:, None], q.shape[1], axis=1)
        relevance.append(rel)
        redundancy.append(red)
        values.append(np.clip(rel - beta * red, 0.0, None))
        if on_pair is not None and not spec.active:  # final now: nothing after the loop changes it
            _pair_done(on_pair, l, values, relevance, redundancy, {"screened": screened} if screen else {})
    extras: dict[str, list[np.ndarray]] = {}
    sig_settings: dict[str, Any] = {}
    if spec.active:
        res = sig.assess(
            acts, relevance, spec, nulls=nulls, estimator=estimator, seed=seed, beta=beta,
            redundancy=redundancy, progress=sub_progress(done), **where, **options,
        )
        relevance = res.relevance
        values = [np.clip(r - beta * d, 0.0, None) for r, d in zip(relevance, redundancy, strict=True)]
        extras, sig_settings = res.extras, res.settings
    screen_info: dict[str, Any] = {}
    if screen:
        extras = {**extras, "screened": screened}
    if on_pair is not None and spec.active:
        for l in range(len(values)):  # noqa: E741 - layer index
            _pair_done(on_pair, l, values, relevance, redundancy, extras)
    if screen:
        n_screened = int(sum(m.sum() for m in screened))
        screen_info = {"method": screen, "alpha": float(screen_alpha), "edges": pairs_total,
                       "screened_out": n_screened, "candidates": pairs_total - n_screened}
    return NifResult(
        layer_sizes=sizes,
        values=values,
        relevance=relevance,
        redundancy=redundancy,
        estimator=estimator,
        beta=float(beta),
        variant=variant,
        seed=int(seed),
        options=dict(options),
        n_samples=int(acts[0].shape[0]),
        elapsed_s=time.perf_counter() - t0,
        extras=extras,
        significance=sig_settings,
        device=device,
        screen=screen_info,
    )


def _pair_done(
    on_pair: PairFn, l: int, values: list[np.ndarray], relevance: list[np.ndarray],  # noqa: E741
    redundancy: list[np.ndarray], extras: Mapping[str, list[np.ndarray]],
) -> None:
    on_pair(l, {"value": values[l], "relevance": relevance[l], "redundancy": redundancy[l],
                **{c: mats[l] for c, mats in extras.items()}})


def check_screen(screen: Any, alpha: Any, estimator: str, variant: str, owner: str) -> None:
    """``screen`` None or one of :data:`SCREENS`, for a neural estimator and the pairwise
    variant; ``alpha`` in (0, 1]."""
    if screen is None:
        return
    if screen not in SCREENS:
        raise param_error("screen", owner, f"None or one of {', '.join(SCREENS)}", screen)
    if estimator not in ("mine", "smile"):
        raise ValidationError(f"{owner}: --screen {screen} screens for MINE or SMILE; {estimator} needs no screen (drop --screen).")
    if variant != "pairwise":
        raise ValidationError(f"{owner}: --screen works on the pairwise variant only; drop --screen or use --variant pairwise.")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating)) or not 0 < alpha <= 1:
        raise param_error("screen_alpha", owner, "a p-value in (0, 1]", alpha)


def pair_edges(
    src_layer: int, dst_layer: int, matrices: Mapping[str, np.ndarray], run_id: str, *, max_rows: int | None = None
) -> Iterator[pd.DataFrame]:
    """The edge table (``EDGE_COLUMNS``) of one layer pair, in slices of at most ``max_rows``
    edges (default :data:`SLICE_ROWS`), source index then target index, built one at a time.

    ``matrices`` maps edge columns to ``(n_src, n_dst)`` matrices: ``value`` (required),
    ``relevance`` (default: the value), ``redundancy`` (default 0) and any of the significance
    columns (default NaN; other keys are ignored). ``value_norm`` is the value over the pair's
    largest value (0 for a pair without flow) and ``cost`` its :func:`~nifgraph.flowgraph.cost_transform`.
    """
    from .flowgraph import cost_transform

    v = np.asarray(matrices["value"])
    a, b = v.shape
    top = float(v.max()) if v.size else 0.0
    flat = {c: np.asarray(m).reshape(-1) for c, m in matrices.items() if c in EDGE_COLUMNS}
    flat.setdefault("relevance", flat["value"])
    step = max(int(SLICE_ROWS if max_rows is None else max_rows), 1)
    for start in range(0, a * b, step):
        cut = slice(start, min(start + step, a * b))
        idx = np.arange(cut.start, cut.stop)
        value = flat["value"][cut]
        norm = value / top if top > 0 else np.zeros_like(value)
        cols: dict[str, Any] = {
            "run_id": run_id, "src_layer": src_layer, "src_idx": idx // b, "dst_layer": dst_layer,
            "dst_idx": idx % b, "value": value, "relevance": flat["relevance"][cut],
            "redundancy": flat["redundancy"][cut] if "redundancy" in flat else 0.0,
            "value_norm": norm, "cost": cost_transform(norm),
        }
        for c in EDGE_COLUMNS:  # the significance columns: given, or NaN
            cols.setdefault(c, flat[c][cut] if c in flat else np.nan)
        frame = pd.DataFrame(cols, index=pd.RangeIndex(len(idx)))
        for col, dtype in EDGE_COLUMNS.items():
            if dtype != "string":
                frame[col] = frame[col].astype(dtype)
        yield frame


def edges_frame(nif: NifResult, run_id: str) -> pd.DataFrame:
    """The run's whole edge table (``EDGE_COLUMNS``): every layer pair's :func:`pair_edges` in one
    frame (a run is stored slice by slice instead: :func:`nifgraph.pipeline.estimate_run`)."""
    parts = [
        part
        for l, (v, rel, red) in enumerate(zip(nif.values, nif.relevance, nif.redundancy, strict=True))  # noqa: E741
        for part in pair_edges(l, l + 1, {"value": v, "relevance": rel, "redundancy": red,
                                          **{c: mats[l] for c, mats in nif.extras.items()}}, run_id)
    ]
    return pd.concat(parts, ignore_index=True)[list(EDGE_COLUMNS)]


def matrices_from_edges(edges: pd.DataFrame, sizes: Sequence[int], column: str = "value") -> list[np.ndarray]:
    """Rebuild the per-layer matrices of ``column`` from an edge table (missing edges = 0)."""
    mats = [np.zeros((sizes[l], sizes[l + 1])) for l in range(len(sizes) - 1)]  # noqa: E741
    add_edges(mats, edges, column)
    return mats


def add_edges(mats: Sequence[np.ndarray], edges: pd.DataFrame, column: str = "value") -> None:
    """Write the ``column`` of the edges in ``edges`` (all of an edge table, or one slice of it:
    ``src_layer``, ``src_idx``, ``dst_idx`` and ``column``) into the per-layer matrices ``mats``,
    in place. Slice by slice, in the table's order, this gives :func:`matrices_from_edges`."""
    if len(edges) == 0:
        return
    src_l = edges["src_layer"].to_numpy()
    vals = edges[column].to_numpy(dtype=np.float64)
    src_i, dst_i = edges["src_idx"].to_numpy(), edges["dst_idx"].to_numpy()
    for l in range(len(mats)):  # noqa: E741 - one vectorised scatter per layer
        sel = src_l == l
        if sel.any():
            mats[l][src_i[sel], dst_i[sel]] = vals[sel]


def flow_concentration(mats: Sequence[np.ndarray], top: float = 0.1) -> float:
    """Share of the total NIF carried by the strongest ``top`` fraction of edges (at least one
    edge). 0.1 = 'top 10 %'; a uniform flow gives about ``top``; NaN if there is no flow."""
    if not 0 < top <= 1:
        raise ValidationError(f"top must be a fraction in (0, 1]; got {top!r}.")
    v = np.sort(np.concatenate([np.asarray(m, dtype=np.float64).ravel() for m in mats]))[::-1]
    total = v.sum()
    if v.size == 0 or total <= 0:
        return float("nan")
    k = max(1, int(np.ceil(top * v.size)))
    return float(v[:k].sum() / total)

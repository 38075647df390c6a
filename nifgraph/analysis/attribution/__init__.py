"""Attribution baselines and statistics: NIF attribution against SHAP, Integrated Gradients and
the raw mutual information between each input feature and each class; side-by-side
comparison of stored models.

The pure core takes arrays and returns arrays or frozen dataclasses; nothing prints or
writes. Two store-facing entry points at the end (:func:`attribution_comparison`,
:func:`compare_models`) read a model through the :class:`~nifgraph.store.base.Store`
interface and its checkpoint, then call the pure core; the CLI renders their results.

Attribution vectors
-------------------
Every method gives a non-negative matrix of shape ``(n_features, n_classes)``:

* ``nif``    column ``j`` of ``A = Π_l NIF_l`` (sum over all paths of the product of NIF
             values, Davis et al. 2019);
* ``shap``   mean |SHAP value| over the test samples for logit ``j`` (``shap.DeepExplainer``,
             background = training samples);
* ``ig``     mean |Integrated Gradients| over the test samples for logit ``j`` (captum,
             baseline = zeros = the training mean after standardisation);
* ``raw_mi`` I(x_i; 1[y = j]) estimated on the samples (KSG by default; with the tiny jitter
             of :mod:`nifgraph.mi` on the binary indicator it is the Ross 2014 mixed
             discrete-continuous estimator in all but name).

Statistics (against ``raw_mi``)
-------------------------------
Each column is first normalised to sum to 1 (``normalize_columns``), so the scale of each
method (nats^depth, logits) drops out. Then, pooled over all features × classes entries:

* two-sample Kolmogorov–Smirnov (``scipy.stats.ks_2samp``). **Read it the right way:** a small
  statistic and a large p-value mean the two samples of values look alike; a statistic of 1
  means the two value distributions do not overlap at all. The paper's Table 1 reads it
  backwards. K-S also compares only the *distributions of values*: it ignores which feature
  carries which value, so two attributions that rank the features in opposite orders can have
  a K-S statistic of 0. Hence:
* Spearman rank correlation (pooled, and the mean of the per-class correlations), which does
  care about which feature is which;
* a deletion test: features are replaced by 0 (the training mean after standardisation) in
  the method's order, most important first, and held-out accuracy re-measured; a faster loss
  of accuracy is a better attribution. Reported as the area under the curve of accuracy
  against the fraction of features deleted (trapezoid rule, x in [0, 1]); lower is better.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ...errors import ValidationError

__all__ = [
    "METHODS",
    "TwoSample",
    "MethodStats",
    "AttributionComparison",
    "ModelSummary",
    "ModelComparison",
    "normalize_columns",
    "ks_test",
    "spearman",
    "kendall",
    "deletion_curve",
    "deletion_auc",
    "random_deletion_auc",
    "raw_mi",
    "ig_attribution",
    "shap_attribution",
    "flow_concentration",
    "compare_attributions",
    "attribution_comparison",
    "model_summary",
    "compare_models",
]

#: Attribution methods in table order; ``raw_mi`` is the reference.
METHODS: tuple[str, ...] = ("nif", "shap", "ig", "raw_mi")
Predict = Callable[[np.ndarray], np.ndarray]


# -- statistics ----------------------------------------------------------------------------
@dataclass(frozen=True)
class TwoSample:
    """A statistic and its p-value (NaN when undefined, e.g. a constant input)."""

    statistic: float
    p_value: float


def _matrix(a: Any, name: str) -> np.ndarray:
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
    m = np.abs(_matrix(a, "attribution"))
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


# -- deletion test -------------------------------------------------------------------------
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


def _order(v: np.ndarray) -> np.ndarray:
    return np.argsort(-v, kind="stable")


def _class_deletion_auc(predict: Predict, x: np.ndarray, y: np.ndarray, mat: np.ndarray) -> float:
    """Mean over classes j of the deletion AUC of the recall of class j, column j's order."""
    aucs = []
    for j in range(mat.shape[1]):
        sel = np.asarray(y) == j
        if sel.any():
            aucs.append(deletion_auc(deletion_curve(predict, x[sel], y[sel], _order(mat[:, j]))))
    return float(np.mean(aucs)) if aucs else float("nan")


# -- attribution baselines -------------------------------------------------------------------
def raw_mi(
    x: np.ndarray, y: np.ndarray, n_classes: int, *, estimator: str = "ksg", seed: int = 0, **options: Any
) -> np.ndarray:
    """I(x_i; 1[y = j]) in nats for every feature ``i`` and class ``j``: (n_features, n_classes)."""
    from ... import mi

    ya = np.asarray(y, dtype=np.int64)
    onehot = (ya[:, None] == np.arange(int(n_classes))[None, :]).astype(np.float64)  # (N, c)
    return np.asarray(mi.pairwise(x, onehot, estimator, seed=seed, **options), dtype=np.float64)


def ig_attribution(module: Any, x: np.ndarray, n_classes: int, *, n_steps: int = 50) -> np.ndarray:
    """Mean |Integrated Gradients| over the samples ``x`` per logit, baseline zeros.

    Returns (n_features, n_classes).
    """
    import torch
    from captum.attr import IntegratedGradients

    mod = copy.deepcopy(module).eval()
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32))
    ig = IntegratedGradients(mod)
    cols = []
    for j in range(int(n_classes)):
        att = ig.attribute(xt, baselines=torch.zeros_like(xt), target=j, n_steps=n_steps)  # (N, d)
        cols.append(att.detach().abs().mean(dim=0).numpy())
    return np.stack(cols, axis=1).astype(np.float64)


def shap_attribution(
    module: Any, background: np.ndarray, x: np.ndarray, n_classes: int
) -> np.ndarray:
    """Mean |SHAP value| (``shap.DeepExplainer``) over the samples ``x`` per logit.

    Returns (n_features, n_classes).
    """
    import warnings

    import torch

    mod = copy.deepcopy(module).eval()  # DeepExplainer hooks the module: keep the caller's clean
    with warnings.catch_warnings():  # shap's own NumPy 2 / matplotlib deprecation notices
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        import shap

        explainer = shap.DeepExplainer(mod, torch.as_tensor(np.asarray(background, dtype=np.float32)))
        sv = explainer.shap_values(torch.as_tensor(np.asarray(x, dtype=np.float32)))
    arr = np.asarray(sv, dtype=np.float64)
    if arr.ndim == 3 and arr.shape[0] == int(n_classes) and arr.shape[2] != int(n_classes):
        arr = np.transpose(arr, (1, 2, 0))  # older shap: list over outputs of (N, d)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return np.abs(arr).mean(axis=0)  # (d, c)


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


# -- the comparison --------------------------------------------------------------------------
@dataclass(frozen=True)
class MethodStats:
    """One method's agreement with raw MI and its deletion AUCs (lower AUC = better)."""

    method: str
    ks_statistic: float
    ks_p: float
    spearman_rho: float
    spearman_p: float
    spearman_per_class: float
    deletion_auc: float
    deletion_auc_class: float


@dataclass(frozen=True)
class AttributionComparison:
    """Attribution matrices of every method and their statistics against raw MI."""

    feature_names: tuple[str, ...]
    class_names: tuple[str, ...]
    matrices: Mapping[str, np.ndarray] = field(repr=False)
    stats: tuple[MethodStats, ...]
    random_auc: float
    random_auc_class: float
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def normalized(self) -> dict[str, np.ndarray]:
        return {k: normalize_columns(v) for k, v in self.matrices.items()}

    def table(self) -> pd.DataFrame:
        """One row per method (and one for a random order), columns of :class:`MethodStats`."""
        rows = [s.__dict__ for s in self.stats]
        nan = float("nan")
        rows.append(
            dict(method="random order", ks_statistic=nan, ks_p=nan, spearman_rho=nan, spearman_p=nan,
                 spearman_per_class=nan, deletion_auc=self.random_auc, deletion_auc_class=self.random_auc_class)
        )
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": list(self.feature_names),
            "classes": list(self.class_names),
            "matrices": {k: np.asarray(v).tolist() for k, v in self.matrices.items()},
            "normalized": {k: v.tolist() for k, v in self.normalized.items()},
            "stats": self.table().to_dict(orient="records"),
            "settings": dict(self.settings),
        }


def compare_attributions(
    matrices: Mapping[str, np.ndarray],
    predict: Predict,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    reference: str = "raw_mi",
    feature_names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    seed: int = 0,
    settings: Mapping[str, Any] | None = None,
) -> AttributionComparison:
    """Statistics of every attribution matrix against ``matrices[reference]``.

    Parameters
    ----------
    matrices : {method: ndarray (n_features, n_classes)}, must contain ``reference``
    predict : callable (n_samples, n_features) -> class indices, for the deletion test
    x_test, y_test : held-out samples (standardised, so 0 = training mean)
    """
    if reference not in matrices:
        raise ValidationError(f"matrices must contain the reference {reference!r}; got {sorted(matrices)}.")
    mats = {k: _matrix(v, f"matrices[{k!r}]") for k, v in matrices.items()}
    shape = mats[reference].shape
    bad = {k: v.shape for k, v in mats.items() if v.shape != shape}
    if bad:
        raise ValidationError(f"Every attribution must have shape {shape}; got {bad}.")
    x = np.asarray(x_test, dtype=np.float32)
    y = np.asarray(y_test)
    ref = normalize_columns(mats[reference])
    stats = []
    for name, m in mats.items():
        nm = normalize_columns(m)
        ks = ks_test(nm, ref)
        sp = spearman(nm, ref)
        per_class = [spearman(nm[:, j], ref[:, j]).statistic for j in range(shape[1])]
        stats.append(
            MethodStats(
                method=name,
                ks_statistic=ks.statistic,
                ks_p=ks.p_value,
                spearman_rho=sp.statistic,
                spearman_p=sp.p_value,
                spearman_per_class=float(np.nanmean(per_class)) if np.isfinite(per_class).any() else float("nan"),
                deletion_auc=deletion_auc(deletion_curve(predict, x, y, _order(nm.sum(axis=1)))),
                deletion_auc_class=_class_deletion_auc(predict, x, y, nm),
            )
        )
    rand_class = []
    for j in range(shape[1]):
        sel = y == j
        if sel.any():
            rand_class.append(random_deletion_auc(predict, x[sel], y[sel], seed=seed))
    return AttributionComparison(
        feature_names=tuple(feature_names or (f"x{i}" for i in range(shape[0]))),
        class_names=tuple(class_names or (str(j) for j in range(shape[1]))),
        matrices=mats,
        stats=tuple(stats),
        random_auc=random_deletion_auc(predict, x, y, seed=seed),
        random_auc_class=float(np.mean(rand_class)) if rand_class else float("nan"),
        settings=dict(settings or {}),
    )


# -- store-facing entry points -----------------------------------------------------------------
def _analysed(store: Any, ref: str):
    from ...errors import NotFoundError

    model, run = store.resolve(ref)
    if run is None:
        raise NotFoundError(f"Model {model.model_id} has no NIF run yet; run `nifgraph estimate {model.model_id}` first.")
    analysis = store.get_analysis(run.run_id)
    if analysis is None:
        raise NotFoundError(f"Run {run.run_id} has no analysis yet; run `nifgraph analyze {run.run_id}` first.")
    return model, run, analysis


def _attribution_matrix(model: Any, analysis: Any) -> np.ndarray:
    a = analysis.attribution
    mat = np.zeros((model.layer_sizes[0], model.layer_sizes[-1]))
    mat[a["feature_idx"].to_numpy(), a["class_idx"].to_numpy()] = a["value"].to_numpy()
    return mat


def attribution_comparison(
    store: Any,
    ref: str,
    *,
    mi_estimator: str = "ksg",
    seed: int = 0,
    ig_steps: int = 50,
    background: int = 200,
) -> AttributionComparison:
    """NIF attribution of a stored model's newest analysed run against SHAP, IG and raw MI.

    SHAP and IG are computed on the held-out split of the model's data set; raw MI on the
    samples the NIF run used (``run.split``); the deletion test on the held-out split.
    """
    from ...pipeline import load_model_network, model_dataset

    model, run, analysis = _analysed(store, ref)
    net = load_model_network(model)
    ds = model_dataset(model)
    x_mi, y_mi = ds.split(run.split)
    rng = np.random.default_rng(seed)
    bg = ds.x_train[rng.permutation(len(ds.x_train))[: int(background)]]
    c = ds.n_classes
    matrices = {
        "nif": _attribution_matrix(model, analysis),
        "shap": shap_attribution(net.module, bg, ds.x_test, c),
        "ig": ig_attribution(net.module, ds.x_test, c, n_steps=ig_steps),
        "raw_mi": raw_mi(x_mi, y_mi, c, estimator=mi_estimator, seed=seed),
    }
    settings = {
        "model_id": model.model_id, "run_id": run.run_id, "nif_estimator": run.estimator,
        "raw_mi_estimator": mi_estimator, "raw_mi_samples": int(len(y_mi)), "n_test": int(len(ds.y_test)),
        "shap": f"DeepExplainer, {len(bg)} background samples", "ig": f"captum, zero baseline, {ig_steps} steps",
        "normalisation": "|v| / sum per class", "deletion_fill": 0.0,
    }
    return compare_attributions(
        matrices, net.predict, ds.x_test, ds.y_test, feature_names=model.feature_names,
        class_names=model.class_names, seed=seed, settings=settings,
    )


@dataclass(frozen=True)
class ModelSummary:
    """One stored model's row of ``nifgraph compare`` (its newest analysed run)."""

    model_id: str
    name: str
    dataset: str
    architecture: str
    activation: str
    test_accuracy: float
    n_params: int
    n_hidden: int
    run_id: str
    estimator: str
    fraction_prunable: float
    n_communities: int
    modularity: float
    flow_concentration: float
    top_features: dict[str, list[str]]
    attribution: np.ndarray = field(repr=False)
    #: row labels of ``attribution`` (the model's input features)
    feature_names: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class ModelComparison:
    summaries: tuple[ModelSummary, ...]
    #: one row per pair of models on the same data set: spearman, kendall (+ p-values)
    agreement: pd.DataFrame = field(repr=False)

    def table(self) -> pd.DataFrame:
        rows = []
        for s in self.summaries:
            d = {k: v for k, v in s.__dict__.items() if k not in ("attribution", "top_features", "feature_names")}
            d["top_features"] = "; ".join(f"{c}: {', '.join(f)}" for c, f in s.top_features.items())
            rows.append(d)
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        models = []
        for s in self.summaries:
            d = dict(s.__dict__)
            d["attribution"] = np.asarray(s.attribution).tolist()
            models.append(d)
        return {"models": models, "agreement": self.agreement.to_dict(orient="records")}


def _summary(
    model: Any,
    run_id: str,
    estimator: str,
    n_prunable: int,
    n_communities: int,
    modularity: float,
    flow: float,
    attr: np.ndarray,
    *,
    top: int = 2,
) -> ModelSummary:
    """A :class:`ModelSummary` from what both stores read (the one place its fields are derived)."""
    sizes = model.layer_sizes
    n_hidden = int(sum(sizes[1:-1]))
    tops = {
        str(cn): [str(model.feature_names[i]) for i in _order(attr[:, j])[:top]]
        for j, cn in enumerate(model.class_names)
    }
    return ModelSummary(
        model_id=model.model_id,
        name=model.name,
        dataset=model.dataset,
        architecture=model.architecture,
        activation=",".join(sorted(set(model.activations) - {"identity"})) or "identity",
        test_accuracy=float(model.test_accuracy),
        n_params=int(sum(sizes[i] * sizes[i + 1] + sizes[i + 1] for i in range(len(sizes) - 1))),
        n_hidden=n_hidden,
        run_id=run_id,
        estimator=estimator,
        fraction_prunable=int(n_prunable) / n_hidden if n_hidden else float("nan"),
        n_communities=int(n_communities),
        modularity=float(modularity),
        flow_concentration=float(flow),
        top_features=tops,
        attribution=attr,
        feature_names=tuple(str(f) for f in model.feature_names),
    )


def model_summary(store: Any, model_id: str, *, top: int = 2) -> ModelSummary:
    """Summary of one stored model's newest analysed run (store reads only)."""
    from ...nif import matrices_from_edges

    model, run, analysis = _analysed(store, model_id)
    mats = matrices_from_edges(store.get_edges(run.run_id), model.layer_sizes, "value")
    return _summary(
        model, run.run_id, run.estimator, len(analysis.prunable), analysis.n_communities,
        analysis.modularity, flow_concentration(mats), _attribution_matrix(model, analysis), top=top,
    )


# -- the same summaries on Neo4j, through the named queries (cypher/queries) -----------------
#: Share of edges whose flow ``flow_concentration`` reports ("top 10 %").
FLOW_TOP = 0.1


def _read(store: Any, name: str, **params: Any) -> pd.DataFrame:
    """Rows of the named query ``name`` (``queries/…``), run read-only with exactly ``params``
    (named ``_read`` so that tests/test_cypher_files.py checks every call's keywords against the
    file's ``// params:`` header)."""
    return store.run_named(name, params)


def _null(v: Any) -> bool:
    return v is None or (isinstance(v, float) and v != v)


def _num(v: Any) -> float:
    return float("nan") if _null(v) else float(v)


def _int(v: Any) -> int:
    return 0 if _null(v) else int(v)


def _neo4j_summaries(store: Any, ids: Sequence[str], *, top: int = 2) -> tuple[ModelSummary, ...]:
    """:func:`model_summary` of every model in ``ids`` from three named queries (one round trip
    each for all models): ``model_summary`` (model, newest complete run, its analysis, prunable
    count), ``flow_concentration`` (top-10 % share computed in Cypher) and
    ``attribution_matrix`` (feature × class entries). Same run choice, errors and result as the
    embedded path."""
    from ...errors import NotFoundError, StoreError
    from ...records import ModelRecord

    ids = list(ids)
    rows = {r["model_id"]: r for r in _read(store, "queries/model_summary", model_ids=ids).to_dict("records")}
    for mid in ids:
        r = rows.get(mid)
        if r is None:
            raise NotFoundError(f"No model {mid!r} in store {store.uri}; list them with `nifgraph models`.")
        if _null(r["run_id"]):
            raise NotFoundError(f"Model {mid} has no NIF run yet; run `nifgraph estimate {mid}` first.")
        if _null(r["analysis_id"]):
            raise NotFoundError(f"Run {r['run_id']} has no analysis yet; run `nifgraph analyze {r['run_id']}` first.")
    flows = {f["model_id"]: f for f in _read(store, "queries/flow_concentration", model_ids=ids, top=FLOW_TOP).to_dict("records")}
    entries = _read(store, "queries/attribution_matrix", model_ids=ids)
    out = []
    for mid in ids:
        r = rows[mid]
        model = ModelRecord(
            model_id=mid, name=r["name"] or "", dataset=r["dataset"] or "",
            layer_sizes=tuple(int(s) for s in r["layer_sizes"] or ()), activations=tuple(r["activations"] or ()),
            feature_names=tuple(r["feature_names"] or ()), class_names=tuple(r["class_names"] or ()),
            test_accuracy=_num(r["test_accuracy"]),
        )
        flow = flows.get(mid)
        mine = entries[entries["model_id"] == mid] if len(entries) else entries
        seen = {r["run_id"]} | ({flow["run_id"]} if flow else set()) | set(mine["run_id"] if len(mine) else ())
        if flow is None or len(seen) != 1:
            raise StoreError(f"Model {mid} changed while it was being read (a run finished); run the comparison again.")
        attr = np.zeros((model.layer_sizes[0], model.layer_sizes[-1]))
        if len(mine):
            vals = pd.to_numeric(mine["value"], errors="coerce").astype("float64").to_numpy()
            attr[mine["feature_idx"].to_numpy(dtype=np.int64), mine["class_idx"].to_numpy(dtype=np.int64)] = vals
        out.append(_summary(
            model, r["run_id"], r["estimator"] or "", _int(r["n_prunable"]), _int(r["n_communities"]),
            _num(r["modularity"]), _num(flow["flow_concentration"]), attr, top=top,
        ))
    return tuple(out)


def compare_models(store: Any, refs: Sequence[str]) -> ModelComparison:
    """Side-by-side summaries of stored models and, for every pair on the same data set, the
    rank agreement (Spearman, Kendall) of their NIF attributions over the features × classes
    entries (each class column normalised to sum to 1 first)."""
    if not refs:
        raise ValidationError("Name at least one model to compare (or use --all / --dataset).")
    ids: list[str] = []
    for r in refs:
        mid = store.resolve(r)[0].model_id
        if mid not in ids:
            ids.append(mid)
    if getattr(store, "kind", "") == "neo4j":  # through the named queries, as the issue asks
        summaries = _neo4j_summaries(store, ids)
    else:
        summaries = tuple(model_summary(store, m) for m in ids)
    rows = []
    for a, b in itertools.combinations(summaries, 2):
        if a.dataset != b.dataset or a.attribution.shape != b.attribution.shape:
            continue
        na, nb = normalize_columns(a.attribution), normalize_columns(b.attribution)
        sp, kt = spearman(na, nb), kendall(na, nb)
        rows.append(dict(model_a=a.model_id, model_b=b.model_id, dataset=a.dataset,
                         spearman=sp.statistic, spearman_p=sp.p_value, kendall=kt.statistic, kendall_p=kt.p_value))
    cols = ["model_a", "model_b", "dataset", "spearman", "spearman_p", "kendall", "kendall_p"]
    return ModelComparison(summaries=summaries, agreement=pd.DataFrame(rows, columns=cols))

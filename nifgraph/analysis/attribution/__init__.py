"""Attribution baselines and statistics: NIF attribution against SHAP, Integrated Gradients and
the raw mutual information between each input feature and each class.

The pure core takes arrays and returns arrays or frozen dataclasses; nothing prints or
writes. One store-facing entry point at the end (:func:`attribution_comparison`) reads a model
through the :class:`~nifgraph.store.base.Store` interface and its checkpoint, then calls the
pure core; the CLI renders its result. Each baseline lives in its own module (``shap``,
``ig``, ``raw_mi``); statistics in ``stats``, the deletion test in ``deletion``.

Attribution vectors
-------------------
Every method gives a non-negative matrix of shape ``(n_features, n_classes)``:

* ``class_flow`` the class-specific, bounded flow of :mod:`nifgraph.analysis.class_flow`
             (``flow_dpi`` with GCMI, nats, at most I(x_i; 1[ŷ = j]) ≤ ln 2) -- the default of
             ``nifgraph attribution``;
* ``nif``    column ``j`` of ``A = Π_l NIF_l`` (sum over all paths of the product of NIF
             values, Davis et al. 2019) -- class-blind, kept for reproducing the paper;
* ``shap``   mean |SHAP value| over the test samples for logit ``j`` (``shap.DeepExplainer``,
             background = training samples; for a DAG model, whose traced graph DeepExplainer
             cannot hook, captum's ``GradientShap`` -- expected gradients -- on the same background);
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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ...errors import ValidationError
from ...store.base import Store
from .deletion import Predict, class_deletion_auc, deletion_auc, deletion_curve, random_deletion_auc
from .ig import ig_attribution
from .raw_mi import raw_mi
from .shap import gradient_shap_attribution, shap_attribution
from .stats import TwoSample, as_matrix, kendall, ks_test, normalize_columns, order, spearman

__all__ = [
    "METHODS",
    "TwoSample",
    "MethodStats",
    "AttributionComparison",
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
    "gradient_shap_attribution",
    "compare_attributions",
    "attribution_comparison",
    "ATTRIBUTION_METHODS",
    "DEFAULT_ATTRIBUTION",
    "class_attribution",
]

#: Attribution methods in table order; ``raw_mi`` is the reference.
METHODS: tuple[str, ...] = ("class_flow", "nif", "shap", "ig", "raw_mi")


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
    mats = {k: as_matrix(v, f"matrices[{k!r}]") for k, v in matrices.items()}
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
                deletion_auc=deletion_auc(deletion_curve(predict, x, y, order(nm.sum(axis=1)))),
                deletion_auc_class=class_deletion_auc(predict, x, y, nm),
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


# -- store-facing entry point ------------------------------------------------------------------
def attribution_comparison(
    store: Store,
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
    from ...stored import load_model_network, model_dataset
    from ..class_flow import class_flow

    model, run, analysis = store.need_analysis(ref)
    net = load_model_network(model, store)
    ds = model_dataset(model)
    x_mi, y_mi = ds.split(run.split)
    rng = np.random.default_rng(seed)
    bg = ds.x_train[rng.permutation(len(ds.x_train))[: int(background)]]
    c = ds.n_classes
    if model.is_dag:  # the traced graph: SHAP by expected gradients (DeepExplainer cannot hook it)
        module = net.as_module()
        shap_values = gradient_shap_attribution(module, bg, ds.x_test, c, seed=seed)
        shap_how = f"captum GradientShap (expected gradients), {len(bg)} background samples"
    else:
        module = net.module
        shap_values = shap_attribution(module, bg, ds.x_test, c)
        shap_how = f"DeepExplainer, {len(bg)} background samples"
    matrices = {
        "class_flow": class_flow(net, x_mi, seed=seed).values,
        "nif": analysis.attribution_matrix(model),
        "shap": shap_values,
        "ig": ig_attribution(module, ds.x_test, c, n_steps=ig_steps),
        "raw_mi": raw_mi(x_mi, y_mi, c, estimator=mi_estimator, seed=seed),
    }
    settings = {
        "model_id": model.model_id, "run_id": run.run_id, "nif_estimator": run.estimator,
        "raw_mi_estimator": mi_estimator, "raw_mi_samples": int(len(y_mi)), "n_test": int(len(ds.y_test)),
        "shap": shap_how, "ig": f"captum, zero baseline, {ig_steps} steps",
        "normalisation": "|v| / sum per class", "deletion_fill": 0.0,
    }
    return compare_attributions(
        matrices, net.predict, ds.x_test, ds.y_test, feature_names=model.feature_names,
        class_names=model.class_names, seed=seed, settings=settings,
    )


#: What ``nifgraph attribution --method`` offers: the class-specific flows of
#: :mod:`nifgraph.analysis.class_flow` and the paper's path product (``path``, stored with the
#: analysis).
ATTRIBUTION_METHODS: tuple[str, ...] = ("flow_dpi", "flow", "occlusion", "path")
#: The default: class-specific (mean Spearman between class columns below SHAP's on wine and
#: digits), as faithful as SHAP on per-class deletion, and bounded (nats ≤ I(x_i; 1[ŷ=j]) ≤ ln 2);
#: measured in ``scripts/bench_attribution.py``. The path product is class-blind.
DEFAULT_ATTRIBUTION = "flow_dpi"


@dataclass(frozen=True)
class ClassAttribution:
    """A stored model's attribution by one method: ``values`` (n_features, n_classes) in
    ``unit``, with ``bound`` the largest value each entry can take (``None``: unbounded)."""

    method: str
    unit: str
    values: np.ndarray = field(repr=False)
    bound: np.ndarray | None = field(repr=False)
    feature_names: tuple[str, ...] = ()
    class_names: tuple[str, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method, "unit": self.unit, "features": list(self.feature_names),
            "classes": list(self.class_names), "matrix": self.values.tolist(),
            "bound": None if self.bound is None else self.bound.tolist(), "settings": self.settings,
        }


def class_attribution(
    store: Store, ref: str, *, method: str = DEFAULT_ATTRIBUTION, estimator: str = "gcmi", seed: int = 0
) -> ClassAttribution:
    """The attribution of a stored model's newest analysed run by ``method``.

    ``path`` reads the stored path product; the class-specific methods run the network on the
    samples the run used (its checkpoint and data split) -- a fraction of a second with GCMI."""
    from ... import mi
    from ...errors import param_error
    from ...stored import load_model_network, model_dataset
    from ..class_flow import class_flow

    if method not in ATTRIBUTION_METHODS:
        raise param_error("method", "attribution", f"one of {', '.join(ATTRIBUTION_METHODS)}", method)
    if estimator not in mi.METHODS:
        raise param_error("estimator", "attribution", f"one of {', '.join(mi.METHODS)}", estimator)
    model, run, analysis = store.need_analysis(ref)
    names = dict(feature_names=tuple(model.feature_names), class_names=tuple(model.class_names))
    if method == "path":
        return ClassAttribution(
            "path", f"nats^{model.n_layers - 1} (product of NIF along paths; unbounded)",
            analysis.attribution_matrix(model), None, settings={"run_id": run.run_id}, **names,
        )
    x = model_dataset(model).split(run.split)[0]
    cf = class_flow(load_model_network(model, store), x, method=method, estimator=estimator, seed=seed)
    return ClassAttribution(
        method, cf.unit, cf.values, cf.bound,
        settings={"run_id": run.run_id, "estimator": cf.estimator, "n_samples": cf.n_samples, "samples": run.split},
        **names,
    )

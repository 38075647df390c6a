"""Side-by-side comparison of stored models: one summary row per model (its newest analysed
run) and, for every pair on the same data set, the rank agreement of their attributions.

Each store answers :meth:`~nifgraph.store.base.Store.summary_inputs` its own way (the
embedded store through its tables, Neo4j through three named queries for all models); the
row itself is derived here, once.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ValidationError
from ..store.base import Store, SummaryInputs
from .attribution.stats import kendall, normalize_columns, order, spearman

__all__ = ["FLOW_TOP", "ModelSummary", "ModelComparison", "model_summary", "compare_models"]

#: Share of edges whose flow ``flow_concentration`` reports ("top 10 %").
FLOW_TOP = 0.1


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


def _summary(inputs: SummaryInputs, *, top: int = 2) -> ModelSummary:
    """A :class:`ModelSummary` from what every store reads (the one place its fields are derived)."""
    model, attr = inputs.model, inputs.attribution
    sizes = model.layer_sizes
    n_hidden = int(sum(sizes[1:-1]))
    tops = {
        str(cn): [str(model.feature_names[i]) for i in order(attr[:, j])[:top]]
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
        run_id=inputs.run_id,
        estimator=inputs.estimator,
        fraction_prunable=int(inputs.n_prunable) / n_hidden if n_hidden else float("nan"),
        n_communities=int(inputs.n_communities),
        modularity=float(inputs.modularity),
        flow_concentration=float(inputs.flow_concentration),
        top_features=tops,
        attribution=attr,
        feature_names=tuple(str(f) for f in model.feature_names),
    )


def model_summary(store: Store, model_id: str, *, top: int = 2) -> ModelSummary:
    """Summary of one stored model's newest analysed run (store reads only)."""
    return _summary(store.summary_inputs([store.resolve(model_id)[0].model_id], flow_top=FLOW_TOP)[0], top=top)


def compare_models(store: Store, refs: Sequence[str]) -> ModelComparison:
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
    summaries = tuple(_summary(i) for i in store.summary_inputs(ids, flow_top=FLOW_TOP))
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

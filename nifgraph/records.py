"""Typed records shared by every store: what a model, a run and an analysis are.

The same property graph lives in every store (DuckDB file or Neo4j):

* a **model** (trained network + metadata) owns **neurons** ``(model_id, layer, idx)``;
* a **run** is one NIF estimation over a model; it owns **edges**
  ``(run_id, src_layer, src_idx) -> (dst_layer=src_layer+1, dst_idx)``;
* an **analysis** belongs to one run: per-neuron metrics, the attribution matrix, the
  pruning verification.

Tables travel as pandas DataFrames with the columns listed here (snake_case; the Neo4j
store maps names at its boundary only).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "ModelRecord",
    "RunRecord",
    "AnalysisRecord",
    "NEURON_COLUMNS",
    "EDGE_COLUMNS",
    "NEURON_METRIC_COLUMNS",
    "ATTRIBUTION_COLUMNS",
    "new_id",
    "check_model_name",
    "now_iso",
    "neuron_key",
]

#: Neuron table: one row per neuron of a model. ``role`` is input / hidden / output;
#: ``name`` is the feature name (inputs), class name (outputs) or ``h{layer}_{idx}``.
NEURON_COLUMNS: dict[str, str] = {
    "model_id": "string",
    "layer": "int64",
    "idx": "int64",
    "role": "string",
    "name": "string",
    "activation": "string",
    "mean": "float64",
    "std": "float64",
    "zero_frac": "float64",
    "dead": "bool",
}

#: Edge table of a run: NIF from neuron (src_layer, src_idx) to (src_layer + 1, dst_idx).
#: ``value`` is the NIF in nats (clipped at 0), ``relevance`` and ``redundancy`` its two
#: terms (value = max(relevance - beta * redundancy, 0)), ``value_norm`` the value divided
#: by the largest value of its layer pair (in [0, 1]), ``cost`` = -ln(value_norm) for
#: value_norm > 0 and NaN (no edge for path algorithms) otherwise. ``p_value``,
#: ``q_value``, ``ci_low``, ``ci_high`` are NaN unless the run computed significance.
EDGE_COLUMNS: dict[str, str] = {
    "run_id": "string",
    "src_layer": "int64",
    "src_idx": "int64",
    "dst_layer": "int64",
    "dst_idx": "int64",
    "value": "float64",
    "relevance": "float64",
    "redundancy": "float64",
    "value_norm": "float64",
    "cost": "float64",
    "p_value": "float64",
    "q_value": "float64",
    "ci_low": "float64",
    "ci_high": "float64",
}

#: Per-neuron analysis results of a run. ``candidate``: the hidden neuron looked empty (the
#: flow rule flagged it and the unit-level test found no information in or out);
#: ``prunable``: recommended -- removing the recommended set together (mean folded into the
#: next bias) was verified on held-out data to cost at most the tolerance; ``accuracy_drop``:
#: held-out accuracy lost by removing this candidate alone (NaN for non-candidates).
NEURON_METRIC_COLUMNS: dict[str, str] = {
    "layer": "int64",
    "idx": "int64",
    "betweenness": "float64",
    "community": "int64",
    "in_flow": "float64",
    "out_flow": "float64",
    "prunable": "bool",
    "candidate": "bool",
    "accuracy_drop": "float64",
}

#: Attribution matrix of a run in long form: input feature ``feature_idx`` -> class ``class_idx``.
ATTRIBUTION_COLUMNS: dict[str, str] = {
    "feature_idx": "int64",
    "class_idx": "int64",
    "value": "float64",
}


def conform(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """Return ``frame`` with exactly ``columns`` in order and dtype (missing float columns -> NaN,
    missing bool columns -> False: data written before a column existed)."""
    out = pd.DataFrame(index=frame.index)
    for name, dtype in columns.items():
        if name in frame.columns:
            col = frame[name]
        elif dtype == "float64":
            col = pd.Series(float("nan"), index=frame.index)
        elif dtype == "bool":
            col = pd.Series(False, index=frame.index)
        else:
            raise KeyError(f"missing column {name!r}")
        if dtype == "string":
            out[name] = col.astype(str)
        else:
            out[name] = col.astype(dtype)
    return out.reset_index(drop=True)


def check_model_name(name: Any) -> None:
    """Refuse a model name that lookups could never resolve to it: ``None`` (a name is made up)
    passes; ``latest``, names with spaces at their ends (lookups strip them) and names shaped like
    an id (``m-…``/``r-…`` and hex digits, which id prefixes match first) do not."""
    import re

    from .errors import ValidationError

    if name is None:
        return
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"--name must be a non-empty text; got {name!r}.")
    if name != name.strip():
        raise ValidationError(f"--name {name!r} has spaces at its ends, which lookups drop; pass --name {name.strip()!r}.")
    if name == "latest":
        raise ValidationError("--name latest is the word every command reads as 'the model last worked on', so no "
                              "lookup would find this model by it; choose another name.")
    if re.fullmatch(r"[mr](-[0-9a-f]*)?", name):
        raise ValidationError(f"--name {name!r} has the shape of a model or run id (m-… or r-… and hex digits), which "
                              "lookups also match as an id prefix; choose a name of another shape (e.g. with a word in it).")


def default_model_name(stem: str) -> str:
    """A stored name from a file's stem that lookups can find (``latest.pt2`` → ``latest-imported``)."""
    from .errors import ValidationError

    try:
        check_model_name(stem)
        return stem
    except ValidationError:
        return f"{stem.strip() or 'model'}-imported"


def new_id(prefix: str) -> str:
    """A short unique id such as ``m-3f9a1c2b7d4e`` (prefix ``m`` model, ``r`` run)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def now_iso() -> str:
    # milliseconds, fixed width: stores order models by this string, and two models created
    # within one second must still sort in creation order (`latest` is the last one)
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def neuron_key(model_id: str, layer: int, idx: int) -> str:
    """The global id of a neuron, the same in every store: ``model_id:layer:idx``."""
    return f"{model_id}:{int(layer)}:{int(idx)}"


@dataclass(frozen=True)
class ModelRecord:
    """A trained network as stored.

    ``layer_sizes`` counts neurons per layer, inputs first, outputs last; ``activations``
    names the activation after each Linear layer (the last is ``"identity"``: outputs are
    logits). ``meta`` holds training settings, checkpoint path, data split, seeds.
    """

    model_id: str
    name: str
    dataset: str
    layer_sizes: tuple[int, ...]
    activations: tuple[str, ...]
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...]
    test_accuracy: float
    train_accuracy: float = float("nan")
    meta: dict[str, Any] = field(default_factory=dict, compare=False)
    created_at: str = field(default_factory=now_iso, compare=False)

    @property
    def n_layers(self) -> int:
        return len(self.layer_sizes)

    @property
    def architecture(self) -> str:
        return "-".join(str(s) for s in self.layer_sizes)

    @property
    def is_dag(self) -> bool:
        """A model read as a DAG of layers (a CNN, a residual network: ``meta["dag"]``), not a
        chain of Linear layers."""
        return bool(self.meta.get("dag"))


@dataclass(frozen=True)
class RunRecord:
    """One NIF estimation over a model: estimator, every setting, seed, timings."""

    run_id: str
    model_id: str
    estimator: str
    seed: int
    split: str = "test"
    n_samples: int = 0
    beta: float = 0.0
    variant: str = "pairwise"
    settings: dict[str, Any] = field(default_factory=dict, compare=False)
    elapsed_s: float = float("nan")
    created_at: str = field(default_factory=now_iso, compare=False)


@dataclass(frozen=True)
class AnalysisRecord:
    """Analysis results of one run (one per run; a new analysis replaces the old)."""

    run_id: str
    engine: str
    gamma: float
    threshold: float
    modularity: float
    n_communities: int
    accuracy_before: float
    accuracy_after: float
    neuron_metrics: pd.DataFrame = field(compare=False, repr=False)
    attribution: pd.DataFrame = field(compare=False, repr=False)
    settings: dict[str, Any] = field(default_factory=dict, compare=False)
    created_at: str = field(default_factory=now_iso, compare=False)

    def attribution_matrix(self, model: ModelRecord) -> np.ndarray:
        """The attribution as a matrix ``(n_features, n_classes)`` of ``model``."""
        a = self.attribution
        mat = np.zeros((model.layer_sizes[0], model.layer_sizes[-1]))
        mat[a["feature_idx"].to_numpy(), a["class_idx"].to_numpy()] = a["value"].to_numpy()
        return mat

    @property
    def prunable(self) -> list[tuple[int, int]]:
        m = self.neuron_metrics
        sel = m[m["prunable"]]
        return [(int(r.layer), int(r.idx)) for r in sel.itertuples()]


def json_clean(obj: Any) -> Any:
    """``obj`` with NaN/inf as ``None``, numpy values as Python ones, keys as strings (JSON-safe)."""
    if isinstance(obj, float):
        return None if not math.isfinite(obj) else obj
    if isinstance(obj, dict):
        return {str(k): json_clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_clean(v) for v in obj]
    if hasattr(obj, "tolist"):
        return json_clean(obj.tolist())
    if hasattr(obj, "item"):
        return json_clean(obj.item())
    return obj


def dumps(obj: Any) -> str:
    """Compact, key-sorted JSON of ``obj`` after :func:`json_clean` (how stores keep dicts)."""
    return json.dumps(json_clean(obj), sort_keys=True, default=str)


def nan_of(v: Any) -> float:
    """A stored number back as a float (a missing value as NaN)."""
    return float("nan") if v is None else float(v)


def _listish(v: Any) -> list[Any]:
    """A stored list field: a list, a JSON string of one, or missing."""
    if v is None:
        return []
    return json.loads(v) if isinstance(v, str) else list(v)


def model_from_flat(p: dict[str, Any]) -> ModelRecord:
    """A model from its flat stored form (a DuckDB row or Neo4j properties; list fields as
    lists or JSON strings, ``meta`` as JSON)."""
    return ModelRecord(
        model_id=p["model_id"],
        name=p.get("name", ""),
        dataset=p.get("dataset", ""),
        layer_sizes=tuple(int(s) for s in _listish(p.get("layer_sizes"))),
        activations=tuple(_listish(p.get("activations"))),
        feature_names=tuple(_listish(p.get("feature_names"))),
        class_names=tuple(_listish(p.get("class_names"))),
        test_accuracy=nan_of(p.get("test_accuracy")),
        train_accuracy=nan_of(p.get("train_accuracy")),
        meta=json.loads(p.get("meta") or "{}"),
        created_at=p.get("created_at", ""),
    )


def run_from_flat(p: dict[str, Any]) -> RunRecord:
    """A run from its flat stored form (``settings`` as JSON)."""
    return RunRecord(
        run_id=p["run_id"],
        model_id=p["model_id"],
        estimator=p.get("estimator", ""),
        seed=int(p.get("seed") or 0),
        split=p.get("split", "test"),
        n_samples=int(p.get("n_samples") or 0),
        beta=nan_of(p.get("beta")),
        variant=p.get("variant", "pairwise"),
        settings=json.loads(p.get("settings") or "{}"),
        elapsed_s=nan_of(p.get("elapsed_s")),
        created_at=p.get("created_at", ""),
    )


def bad_edges(frame: Any, model: ModelRecord) -> Any:
    """Rows of an edge table that do not fit ``model``: a chain's edges join layer ``l`` to
    ``l + 1``; a DAG model's (``meta["dag"]``) join a layer to one it directly feeds."""
    import numpy as np

    src, dst = frame["src_layer"].to_numpy(dtype=np.int64), frame["dst_layer"].to_numpy(dtype=np.int64)
    if not model.is_dag:
        return (dst != src + 1) | (src < 0) | (dst >= model.n_layers)
    n = model.n_layers
    allowed = [int(a) * n + b for b, layer in enumerate(model.meta["dag"]["layers"]) for a in layer["inputs"]]
    inside = (src >= 0) & (src < n) & (dst >= 0) & (dst < n)
    return ~(inside & np.isin(src * n + dst, allowed))


def not_for_dag(model: ModelRecord, what: str, instead: str, *, why: str) -> Exception:
    """The one refusal for what is not defined on DAG models: ``what`` is not available,
    ``why`` says why, ``instead`` says what to use."""
    from .errors import ValidationError

    return ValidationError(
        f"Model {model.model_id} is a DAG model (CNN or residual); {what} not defined for DAG models: {why}; {instead}."
    )


def layer_table(model: ModelRecord) -> list[dict[str, Any]]:
    """Every layer of a model in topological order: ``name``, ``kind`` (input, linear, conv) and
    ``inputs`` (the layers feeding it directly). A chain's layers are ``input``, ``linear_1`` …"""
    dag = model.meta.get("dag")
    if dag:
        return [{"name": la["name"], "kind": la["kind"], "inputs": list(la["inputs"])} for la in dag["layers"]]
    return [{"name": "input", "kind": "input", "inputs": []}] + [
        {"name": f"linear_{k}", "kind": "linear", "inputs": [k - 1]} for k in range(1, model.n_layers)
    ]

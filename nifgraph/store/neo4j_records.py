"""Records <-> Neo4j properties, and value conversion at the driver boundary.

Property names are the snake_case column names of :mod:`nifgraph.records`; dicts (``meta``,
``settings``) are JSON strings; NaN is stored as a missing property and read back as NaN.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from ..records import AnalysisRecord, ModelRecord, RunRecord, json_clean, neuron_key


# -- value conversion at the boundary ---------------------------------------------------
def py_value(v: Any) -> Any:
    """A driver-friendly Python value: numpy scalars unboxed, NaN / NA -> None."""
    if v is None:
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    if v is pd.NA or v is pd.NaT:
        return None
    return v


def rows_of(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    cols = {c: frame[c].to_numpy(dtype=object) for c in columns}
    n = len(frame)
    return [{c: py_value(cols[c][i]) for c in columns} for i in range(n)]


def batches(rows: list[Any], size: int) -> Iterator[list[Any]]:
    size = max(int(size), 1)
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def float_list(a: np.ndarray) -> list[float | None]:
    """A float column as a driver list, NaN -> None (a property that is not stored)."""
    a = np.asarray(a, dtype=np.float64)
    out: list[float | None] = a.tolist()
    if np.isnan(a).any():
        out = [None if x != x else x for x in out]
    return out


def edge_batches(model_id: str, frame: pd.DataFrame, props: list[str], size: int) -> Iterator[dict[str, Any]]:
    """The parameters of ``store/put_edges``, one batch of at most ``size`` edges at a time.

    Columnar: ``ids`` are the batch's distinct neuron ids (matched once per batch), ``src`` /
    ``dst`` the position of each edge's ends in ``ids``, ``cols`` one list per property in
    ``props`` (NaN -> None). Packing a few long lists is much cheaper for the driver than one
    map per edge."""
    size = max(int(size), 1)
    src_layer = frame["src_layer"].to_numpy(dtype=np.int64)
    src_idx = frame["src_idx"].to_numpy(dtype=np.int64)
    dst_layer = frame["dst_layer"].to_numpy(dtype=np.int64)
    dst_idx = frame["dst_idx"].to_numpy(dtype=np.int64)
    values = {c: frame[c].to_numpy(dtype=np.float64) for c in props}
    for start in range(0, len(frame), size):
        cut = slice(start, start + size)
        ends = np.stack([  # (2 * n_batch, 2): (layer, idx) of every source, then every target
            np.concatenate([src_layer[cut], dst_layer[cut]]),
            np.concatenate([src_idx[cut], dst_idx[cut]]),
        ], axis=1)
        uniq, pos = np.unique(ends, axis=0, return_inverse=True)
        pos = pos.reshape(-1)
        m = len(pos) // 2
        yield {
            "ids": [neuron_key(model_id, int(la), int(i)) for la, i in uniq],
            "src": pos[:m].tolist(),
            "dst": pos[m:].tolist(),
            "cols": {c: float_list(v[cut]) for c, v in values.items()},
        }


def edge_frame(columns: dict[str, list[Any]], props: list[str]) -> pd.DataFrame:
    """The columns returned by ``store/get_edges`` as a frame sorted by source layer, source
    index, target index (the order of the embedded store)."""
    ints = {c: np.asarray(columns[c], dtype=np.int64) for c in ("src_layer", "src_idx", "dst_layer", "dst_idx")}
    floats = {c: np.asarray(columns[c], dtype=np.float64) for c in props}  # None (if any) -> NaN
    order = np.lexsort((ints["dst_idx"], ints["src_idx"], ints["src_layer"]))
    return pd.DataFrame({**{c: v[order] for c, v in ints.items()}, **{c: v[order] for c, v in floats.items()}})


def now_ms() -> int:
    return int(time.time() * 1000)


def to_json(d: dict[str, Any]) -> str:
    return json.dumps(d, sort_keys=True, default=str, allow_nan=False) if d else "{}"


def safe_json(d: dict[str, Any]) -> str:
    try:
        return to_json(d)
    except ValueError:  # NaN inside: stored as null
        return json.dumps(json_clean(d), sort_keys=True, default=str)


def model_props(m: ModelRecord) -> dict[str, Any]:
    return {
        "model_id": m.model_id,
        "name": m.name,
        "dataset": m.dataset,
        "layer_sizes": [int(s) for s in m.layer_sizes],
        "activations": [str(a) for a in m.activations],
        "feature_names": [str(f) for f in m.feature_names],
        "class_names": [str(c) for c in m.class_names],
        "test_accuracy": py_value(float(m.test_accuracy)),
        "train_accuracy": py_value(float(m.train_accuracy)),
        "meta": safe_json(m.meta),
        "created_at": m.created_at,
        "architecture": m.architecture,
        "n_layers": m.n_layers,
    }


def run_props(r: RunRecord) -> dict[str, Any]:
    return {
        "run_id": r.run_id,
        "model_id": r.model_id,
        "estimator": r.estimator,
        "seed": int(r.seed),
        "split": r.split,
        "n_samples": int(r.n_samples),
        "beta": py_value(float(r.beta)),
        "variant": r.variant,
        "settings": safe_json(r.settings),
        "elapsed_s": py_value(float(r.elapsed_s)),
        "created_at": r.created_at,
    }


def analysis_props(a: AnalysisRecord, analysis_id: str) -> dict[str, Any]:
    return {
        "analysis_id": analysis_id,
        "run_id": a.run_id,
        "engine": a.engine,
        "gamma": py_value(float(a.gamma)),
        "threshold": py_value(float(a.threshold)),
        "modularity": py_value(float(a.modularity)),
        "n_communities": int(a.n_communities),
        "accuracy_before": py_value(float(a.accuracy_before)),
        "accuracy_after": py_value(float(a.accuracy_after)),
        "settings": safe_json(a.settings),
        "created_at": a.created_at,
    }

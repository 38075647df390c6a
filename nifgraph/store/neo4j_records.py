"""Records <-> Neo4j properties, and value conversion at the driver boundary.

Property names are the snake_case column names of :mod:`nifgraph.records`; dicts (``meta``,
``settings``) are JSON strings; NaN is stored as a missing property and read back as NaN.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from ..errors import StoreError
from ..flowgraph import cost_transform
from ..records import AnalysisRecord, ModelRecord, RunRecord, dumps, neuron_key


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


#: The edge table's key: both ends of an edge (unique within a run).
KEY_COLUMNS = ("src_layer", "src_idx", "dst_layer", "dst_idx")
#: Statistics kept on every ``NIF`` relationship: what Cypher users, the GDS projections, Bloom and the
#: named queries filter and sort on (with ``run_id``). NaN is a missing property, as everywhere.
REL_PROPS = ("value", "value_norm", "q_value")
#: The secondary statistics, kept in columns on one ``(:NIFColumns)`` node per write batch instead of
#: on the relationships (one property record fewer per edge is what makes writes fast). A column
#: that equals its default (:func:`default_column`) is not stored at all.
COLUMN_PROPS = ("relevance", "redundancy", "cost", "p_value", "ci_low", "ci_high")


def default_column(name: str, value: np.ndarray, value_norm: np.ndarray) -> np.ndarray:
    """What a secondary column of a ``NIFColumns`` node is when the node does not store it:
    ``relevance`` = ``value`` (no redundancy term), ``redundancy`` = 0, ``cost`` =
    ``-ln(value_norm)`` (:func:`nifgraph.flowgraph.cost_transform`), and NaN for ``p_value``,
    ``ci_low``, ``ci_high`` (no permutation null). Shapes ``(n_edges,)``."""
    if name == "relevance":
        return np.array(value, dtype=np.float64)
    if name == "redundancy":
        return np.zeros(len(value))
    if name == "cost":
        return cost_transform(value_norm)
    return np.full(len(value), np.nan)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit-for-bit equal floats, NaN where NaN and signed zeros kept (what is not stored is
    rebuilt exactly)."""
    return bool(np.array_equal(a, b, equal_nan=True) and np.array_equal(np.signbit(a), np.signbit(b)))


def column_block(rows: dict[str, np.ndarray]) -> dict[str, list[Any]]:
    """The properties of one ``NIFColumns`` node for the edges in ``rows`` (key and statistics
    columns, each of shape ``(n,)``): the key columns as integer lists and every secondary
    column that differs from its default, as a float list (NaN kept: a list cannot hold null)."""
    out: dict[str, list[Any]] = {c: rows[c].astype(np.int64).tolist() for c in KEY_COLUMNS}
    for c in COLUMN_PROPS:
        if not _same(rows[c], default_column(c, rows["value"], rows["value_norm"])):
            out[c] = rows[c].astype(np.float64).tolist()
    return out


def edge_batches(model_id: str, frame: pd.DataFrame, size: int) -> Iterator[dict[str, Any]]:
    """The parameters of ``store/put_edges``, one batch of at most ``size`` edges at a time (as few
    batches as that allows, of even size: no small last transaction).

    Columnar: ``ids`` are the batch's distinct neuron ids (matched once per batch), ``src`` /
    ``dst`` the position of each edge's ends in ``ids``, ``cols`` one list per relationship
    property in :data:`REL_PROPS` (NaN -> None), ``block`` the batch's ``NIFColumns`` node
    (:func:`column_block`) and ``seq`` its number. Packing a few long lists is much cheaper
    for the driver than one map per edge."""
    n = len(frame)
    n_batches = -(-n // max(int(size), 1))  # as few as `size` allows, their sizes differing by one at most
    bounds = [i * n // n_batches for i in range(n_batches + 1)] if n_batches else [0]
    keys = {c: frame[c].to_numpy(dtype=np.int64) for c in KEY_COLUMNS}
    values = {c: frame[c].to_numpy(dtype=np.float64) for c in (*REL_PROPS, *COLUMN_PROPS)}
    for seq, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        cut = slice(start, stop)
        ends = np.stack([  # (2 * n_batch, 2): (layer, idx) of every source, then every target
            np.concatenate([keys["src_layer"][cut], keys["dst_layer"][cut]]),
            np.concatenate([keys["src_idx"][cut], keys["dst_idx"][cut]]),
        ], axis=1)
        uniq, pos = np.unique(ends, axis=0, return_inverse=True)
        pos = pos.reshape(-1)
        m = len(pos) // 2
        rows = {c: v[cut] for c, v in {**keys, **values}.items()}
        yield {
            "seq": seq,
            "ids": [neuron_key(model_id, int(la), int(i)) for la, i in uniq],
            "src": pos[:m].tolist(),
            "dst": pos[m:].tolist(),
            "cols": {c: float_list(values[c][cut]) for c in REL_PROPS},
            "block": column_block(rows),
        }


def column_batches(frame: pd.DataFrame, size: int) -> Iterator[dict[str, Any]]:
    """``NIFColumns`` nodes for an edge table whose relationships already exist (the migration of
    a run written before the columns), ``size`` edges each, numbered from 0: ``{seq, block}``."""
    size = max(int(size), 1)
    arrays = {c: frame[c].to_numpy() for c in (*KEY_COLUMNS, *REL_PROPS, *COLUMN_PROPS)}
    for seq, start in enumerate(range(0, len(frame), size)):
        cut = slice(start, start + size)
        yield {"seq": seq, "block": column_block({c: np.asarray(v[cut]) for c, v in arrays.items()})}


def _key_order(keys: dict[str, np.ndarray]) -> np.ndarray:
    """Indices that sort edges by source layer, source index, target index, target layer (one
    integer key and one argsort when the ranges allow, four-key lexsort otherwise)."""
    cols = [keys[c] for c in ("src_layer", "src_idx", "dst_idx", "dst_layer")]
    if not len(cols[0]):
        return np.zeros(0, dtype=np.int64)
    spans = [int(c.max()) + 1 for c in cols]
    if min(int(c.min()) for c in cols) >= 0 and float(np.prod([float(x) for x in spans])) < 2.0**62:
        key = cols[0].astype(np.int64)
        for c, span in zip(cols[1:], spans[1:], strict=True):
            key = key * span + c
        return np.argsort(key, kind="stable")
    return np.lexsort(cols[::-1])


def edge_frame(columns: dict[str, Any], run_id: str = "", *, secondary: bool = True) -> pd.DataFrame:
    """The edge table from what ``store/get_edges`` (or one ``store/get_edge_page``) returns: the
    relationships' ends and :data:`REL_PROPS` as lists, and ``blocks``, the run's ``NIFColumns``
    nodes (maps of lists). Both sides are sorted by their key and must name the same edges; the
    secondary columns a node does not store are rebuilt with :func:`default_column`. Sorted by
    source layer, source index, target index, target layer (the order of the embedded store).
    Without ``secondary``: the ends and :data:`REL_PROPS` only (``blocks`` is not read)."""
    rel_keys = {c: np.asarray(columns[c], dtype=np.int64) for c in KEY_COLUMNS}
    rel = {c: np.asarray(columns[c], dtype=np.float64) for c in REL_PROPS}  # None (if any) -> NaN
    order = _key_order(rel_keys)
    rel_keys = {c: v[order] for c, v in rel_keys.items()}
    rel = {c: v[order] for c, v in rel.items()}
    if not secondary:
        return pd.DataFrame({**rel_keys, **rel}, copy=False)
    blocks = list(columns.get("blocks") or [])
    sizes = [len(b["src_idx"]) for b in blocks]

    def joined(c: str, dtype: Any, missing: float = np.nan) -> np.ndarray:
        parts = [np.asarray(b[c], dtype=dtype) if c in b else np.full(n, missing, dtype=dtype)
                 for b, n in zip(blocks, sizes, strict=True)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

    blk_keys = {c: joined(c, np.int64, 0) for c in KEY_COLUMNS}
    border = _key_order(blk_keys)
    if len(border) != len(order) or any(not np.array_equal(blk_keys[c][border], rel_keys[c]) for c in KEY_COLUMNS):
        raise StoreError(
            f"Run {run_id}: its NIF relationships ({len(order)}) and its NIFColumns nodes ({len(border)} edges) "
            "do not name the same edges (written or edited outside nifgraph?); write the run again "
            "(nifgraph push) or delete it."
        )
    sec = {}
    for c in COLUMN_PROPS:
        col = joined(c, np.float64)[border]
        if any(c not in b for b in blocks):
            fill = np.repeat([c not in b for b in blocks], sizes)[border]
            col[fill] = default_column(c, rel["value"][fill], rel["value_norm"][fill])
        sec[c] = col
    return pd.DataFrame({**rel_keys, **rel, **sec}, copy=False)


def now_ms() -> int:
    return int(time.time() * 1000)


def safe_json(d: dict[str, Any]) -> str:
    """A dict property as the embedded store keeps it (:func:`records.dumps`): numpy values as
    Python ones, NaN as null (not ``str()`` of them)."""
    return dumps(d) if d else "{}"


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

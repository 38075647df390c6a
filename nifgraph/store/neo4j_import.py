"""One run as the files ``neo4j-admin database import full`` takes: the bulk path for very large runs.

The offline importer writes a new database in one pass, far faster than transactions, but only
into an empty database of a stopped server (``import incremental`` is Enterprise-only). The
tables here hold exactly what :class:`~nifgraph.store.neo4j.Neo4jStore` writes for the model, its
neurons, the run and its edges (schema version 2: ``NIF`` relationships with ``run_id``, ``value``,
``value_norm``, ``q_value``; the other statistics in ``NIFColumns`` nodes), so the imported
database is a nifgraph store as soon as ``nifgraph db init`` has created the constraints. The
checkpoint and the analysis are not in the files (``nifgraph push`` adds them; the run, already
complete, is skipped). Every file has its header in its first line, with the importer's types
(``:ID(Neuron)``, ``layer:long``, ``value:double``, ``src_idx:long[]`` …); an empty field is a
property that is not stored (NaN, as everywhere); arrays are separated by ``;``
(``--array-delimiter``).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ValidationError
from ..records import EDGE_COLUMNS, NEURON_COLUMNS, ModelRecord, RunRecord, conform, neuron_key
from .neo4j_layout import EDGE_LAYOUT
from .neo4j_records import (
    COLUMN_PROPS,
    KEY_COLUMNS,
    REL_PROPS,
    column_batches,
    model_props,
    now_ms,
    run_props,
)

__all__ = ["ARRAY_DELIMITER", "IMPORT_FILES", "import_tables", "import_command", "parse_array"]

#: The importer's array delimiter (its default).
ARRAY_DELIMITER = ";"
#: Edges per ``NIFColumns`` node in the files: a CSV line must fit the importer's read buffer (4 MiB
#: by default); 5 000 edges make lines of about 0.5 MiB.
IMPORT_BLOCK = 5000
#: File name -> ``--nodes`` or ``--relationships``, in the order the importer is given them.
IMPORT_FILES = {
    "models.csv": "nodes",
    "neurons.csv": "nodes",
    "runs.csv": "nodes",
    "columns.csv": "nodes",
    "has_neuron.csv": "relationships",
    "of_model.csv": "relationships",
    "nif.csv": "relationships",
}
_ROLE_LABELS = {"input": "Neuron;Feature", "hidden": "Neuron;Hidden", "output": "Neuron;Class"}


def _java_double(x: float) -> str:
    """A double as Java's ``Double.parseDouble`` reads it back exactly (Python's shortest repr)."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return repr(float(x))


def _array(values: list[Any]) -> str:
    if values and isinstance(values[0], float):
        return ARRAY_DELIMITER.join(_java_double(v) for v in values)
    return ARRAY_DELIMITER.join(str(v) for v in values)


def parse_array(field: Any, kind: str) -> list[Any]:
    """Read back an array field of these files (``kind``: ``long``, ``double`` or ``string``);
    what the importer does with it (tests use it to check the files)."""
    if field is None or (isinstance(field, float) and math.isnan(field)) or field == "":
        return []
    parts = str(field).split(ARRAY_DELIMITER)
    return [int(p) for p in parts] if kind == "long" else [float(p) for p in parts] if kind == "double" else parts


def _typed(props: dict[str, Any], types: dict[str, str]) -> dict[str, Any]:
    """Properties under the importer's ``name:type`` headers (arrays joined, None left empty)."""
    out: dict[str, Any] = {}
    for k, v in props.items():
        t = types.get(k)
        head = f"{k}:{t}" if t else k
        if isinstance(v, list | tuple):
            for s in v:
                if isinstance(s, str) and ARRAY_DELIMITER in s:
                    raise ValidationError(
                        f"{k} holds {s!r}, which contains {ARRAY_DELIMITER!r}, the importer's array delimiter; "
                        "rename it, or copy the run with `nifgraph push` instead."
                    )
            v = _array(list(v))
        out[head] = v
    return out


def import_tables(model: ModelRecord, neurons: pd.DataFrame, run: RunRecord, edges: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The tables of :data:`IMPORT_FILES` for one complete run of ``model``.

    ``neurons``: the model's neuron table (:data:`~nifgraph.records.NEURON_COLUMNS`); ``edges``:
    the run's edge table (:data:`~nifgraph.records.EDGE_COLUMNS`)."""
    mid, rid = model.model_id, run.run_id
    seq, stamp = time.time_ns(), now_ms()
    mtypes = {"layer_sizes": "long[]", "activations": "string[]", "feature_names": "string[]",
              "class_names": "string[]", "test_accuracy": "double", "train_accuracy": "double", "n_layers": "long",
              "seq": "long", "updated_ms": "long"}
    mprops = {k: v for k, v in model_props(model).items() if k != "model_id"}
    models = pd.DataFrame([{"model_id:ID(Model)": mid, **_typed({**mprops, "seq": seq, "updated_ms": stamp}, mtypes),
                            ":LABEL": "Model"}])

    frame = conform(neurons.assign(model_id=mid), NEURON_COLUMNS)
    ids = [neuron_key(mid, int(la), int(i)) for la, i in zip(frame["layer"], frame["idx"], strict=True)]
    nodes = pd.DataFrame({"neuron_id:ID(Neuron)": ids, "model_id": mid})
    ntypes = {"layer": "long", "idx": "long", "mean": "double", "std": "double", "zero_frac": "double", "dead": "boolean"}
    for c in NEURON_COLUMNS:
        if c != "model_id":
            nodes[f"{c}:{ntypes[c]}" if c in ntypes else c] = frame[c].to_numpy()
    nodes[":LABEL"] = frame["role"].map(_ROLE_LABELS).fillna("Neuron").to_numpy()

    e = conform(edges.assign(run_id=rid), EDGE_COLUMNS)
    rtypes = {"seed": "long", "n_samples": "long", "beta": "double", "elapsed_s": "double", "n_edges": "long",
              "significance": "boolean", "edge_layout": "long", "seq": "long", "updated_ms": "long"}
    rprops = {k: v for k, v in run_props(run).items() if k != "run_id"}
    rprops.update(status="complete", n_edges=len(e), significance=bool(e["q_value"].notna().any()),
                  edge_layout=EDGE_LAYOUT, seq=seq, updated_ms=stamp)
    runs = pd.DataFrame([{"run_id:ID(Run)": rid, **_typed(rprops, rtypes), ":LABEL": "Run"}])

    rows = []
    for b in column_batches(e, IMPORT_BLOCK):
        row = {":ID(NIFColumns)": f"{rid}:{b['seq']}", "run_id": rid, "seq:long": b["seq"]}
        for c in KEY_COLUMNS:
            row[f"{c}:long[]"] = _array(b["block"][c])
        for c in COLUMN_PROPS:
            row[f"{c}:double[]"] = _array(b["block"][c]) if c in b["block"] else None
        rows.append({**row, ":LABEL": "NIFColumns"})
    key_heads = [f"{c}:long[]" for c in KEY_COLUMNS]
    columns = pd.DataFrame(rows, columns=[":ID(NIFColumns)", "run_id", "seq:long", *key_heads,
                                          *(f"{c}:double[]" for c in COLUMN_PROPS), ":LABEL"])

    has_neuron = pd.DataFrame({":START_ID(Model)": mid, ":END_ID(Neuron)": ids, ":TYPE": "HAS_NEURON"})
    of_model = pd.DataFrame([{":START_ID(Run)": rid, ":END_ID(Model)": mid, ":TYPE": "OF_MODEL"}])
    src = (mid + ":" + e["src_layer"].astype(str) + ":" + e["src_idx"].astype(str)).to_numpy()
    dst = (mid + ":" + e["dst_layer"].astype(str) + ":" + e["dst_idx"].astype(str)).to_numpy()
    nif = pd.DataFrame({":START_ID(Neuron)": src, ":END_ID(Neuron)": dst, ":TYPE": "NIF", "run_id": rid})
    for c in REL_PROPS:
        nif[f"{c}:double"] = e[c].to_numpy(dtype=np.float64)  # NaN: an empty field, no property
    return {"models.csv": models, "neurons.csv": nodes, "runs.csv": runs, "columns.csv": columns,
            "has_neuron.csv": has_neuron, "of_model.csv": of_model, "nif.csv": nif}


def import_command(paths: dict[str, str], database: str = "neo4j") -> str:
    """The ``neo4j-admin`` command line that imports the files at ``paths`` (file name -> path)."""
    # the database first: --nodes / --relationships take every file name that follows them
    parts = ["neo4j-admin database import full", database, f"--array-delimiter='{ARRAY_DELIMITER}'"]
    parts += [f"--{IMPORT_FILES[name]}={paths[name]}" for name in IMPORT_FILES]
    return " ".join(parts)

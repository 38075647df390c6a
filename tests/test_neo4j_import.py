"""``nifgraph export RUN --format neo4j-import``: the header+CSV files of ``neo4j-admin database
import full``. Read back the way the importer reads them (header types, ``;`` arrays, an empty
field = no property), they hold exactly the graph the Neo4j store writes: every edge comes back bit
for bit through the same join as ``get_edges``, every relationship names nodes of the files."""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import numpy as np
import pytest

from nifgraph.records import EDGE_COLUMNS
from nifgraph.store.duckdb import DuckDBStore
from nifgraph.store.neo4j_import import IMPORT_FILES, parse_array
from nifgraph.store.neo4j_records import KEY_COLUMNS, REL_PROPS, edge_frame

from .conftest import invoke, one_line_error
from .store_fixtures import edge_variant, make_model, make_run

_HEAD = re.compile(r"^(?P<name>[^:]*)(?::(?P<kind>ID|START_ID|END_ID|LABEL|TYPE|long|double|boolean|string)"
                   r"(?P<array>\[\])?(?:\((?P<space>\w+)\))?)?$")


def _read(path: Path) -> tuple[list[dict], list[dict]]:
    """(parsed headers, rows as {header: value or None}) as the importer sees them."""
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    heads = []
    for h in rows[0]:
        m = _HEAD.match(h)
        assert m, f"{path.name}: header {h!r} is not importer syntax"
        heads.append(m.groupdict())
    out = []
    for r in rows[1:]:
        row = {}
        for h, v in zip(rows[0], r, strict=True):
            g = heads[rows[0].index(h)]
            if v == "":
                row[h] = None  # no property
            elif g["array"]:
                row[h] = parse_array(v, g["kind"])
            elif g["kind"] == "long":
                row[h] = int(v)
            elif g["kind"] == "double":
                row[h] = float(v)  # Java's Double.parseDouble reads the same text: NaN, Infinity, repr
            elif g["kind"] == "boolean":
                assert v.lower() in ("true", "false"), v
                row[h] = v.lower() == "true"
            else:
                row[h] = v
        out.append(row)
    return heads, out


@pytest.fixture
def exported(tmp_path, monkeypatch):
    store_path = tmp_path / "store" / "nif.duckdb"
    model, neurons = make_model(sizes=(5, 7, 3), name="semi;colon-free")
    run, _ = make_run(model)
    edges = edge_variant("everything").assign(run_id=run.run_id)
    with DuckDBStore(str(store_path)) as st:
        st.put_model(model, neurons)
        st.put_run(run, edges)
        want = st.get_edges(run.run_id)
    res = invoke("export", run.run_id, "--format", "neo4j-import", "--out", str(tmp_path / "out"), "--store", str(store_path))
    assert res.exit_code == 0, res.output
    folder = tmp_path / "out" / f"{run.run_id}_neo4j-import"
    return model, neurons, run, want, folder


def test_files_and_command(exported):
    model, neurons, run, want, folder = exported
    assert sorted(p.name for p in folder.iterdir()) == sorted([*IMPORT_FILES, "import.txt"])
    text = (folder / "import.txt").read_text()
    command = next(line for line in text.splitlines() if line.startswith("neo4j-admin"))
    assert command.startswith("neo4j-admin database import full neo4j --array-delimiter=';' --nodes=")
    for name, kind in IMPORT_FILES.items():
        assert f"--{kind}={(folder / name).resolve()}" in command
    assert "nifgraph db init" in text and f"nifgraph push {model.model_id}" in text


def test_the_graph_is_the_one_the_store_writes(exported):
    model, neurons, run, want, folder = exported
    t = {name: _read(folder / name) for name in IMPORT_FILES}
    ids: dict[str, set[str]] = {}
    for name in ("models.csv", "neurons.csv", "runs.csv", "columns.csv"):
        heads, rows = t[name]
        id_head = next(h for h in rows[0] if ":ID(" in h)
        space = re.search(r"\((\w+)\)", id_head).group(1)
        vals = [r[id_head] for r in rows]
        assert len(set(vals)) == len(vals), name
        ids.setdefault(space, set()).update(vals)
    # nodes and labels as the store writes them
    (m,) = t["models.csv"][1]
    assert m["model_id:ID(Model)"] == model.model_id and m[":LABEL"] == "Model"
    assert m["layer_sizes:long[]"] == [5, 7, 3] and m["feature_names:string[]"] == list(model.feature_names)
    n = t["neurons.csv"][1]
    assert len(n) == len(neurons) == 15
    roles = {"input": "Neuron;Feature", "hidden": "Neuron;Hidden", "output": "Neuron;Class"}
    assert all(r[":LABEL"] == roles[r["role"]] for r in n)
    assert all(r["neuron_id:ID(Neuron)"] == f"{model.model_id}:{r['layer:long']}:{r['idx:long']}" for r in n)
    (r,) = t["runs.csv"][1]
    assert (r["run_id:ID(Run)"], r["status"], r["edge_layout:long"], r["n_edges:long"], r["significance:boolean"]) == (
        run.run_id, "complete", 2, len(want), True)
    # every relationship joins nodes of the files
    for name, (start, end) in {"has_neuron.csv": ("Model", "Neuron"), "of_model.csv": ("Run", "Model"),
                               "nif.csv": ("Neuron", "Neuron")}.items():
        rows = t[name][1]
        assert rows, name
        for row in rows:
            assert row[f":START_ID({start})"] in ids[start] and row[f":END_ID({end})"] in ids[end], (name, row)
    assert len(t["has_neuron.csv"][1]) == 15 and {row[":TYPE"] for row in t["nif.csv"][1]} == {"NIF"}
    # the edges, through the same join as get_edges: bit for bit
    nif = t["nif.csv"][1]
    cols = {c: [] for c in (*KEY_COLUMNS, *REL_PROPS)}
    for row in nif:
        _, sl, si = row[":START_ID(Neuron)"].rsplit(":", 2)
        _, dl, di = row[":END_ID(Neuron)"].rsplit(":", 2)
        for c, v in zip(KEY_COLUMNS, (sl, si, dl, di), strict=True):
            cols[c].append(int(v))
        for c in REL_PROPS:
            v = row[f"{c}:double"]
            cols[c].append(math.nan if v is None else v)
    blocks = []
    for row in t["columns.csv"][1]:
        b = {h.split(":")[0]: v for h, v in row.items() if v is not None and h.split(":")[0] and not h.startswith(":")}
        blocks.append(b)
    got = edge_frame({**cols, "blocks": blocks}, run.run_id)
    for c in EDGE_COLUMNS:
        if c == "run_id":
            continue
        a, b = got[c].to_numpy(), want[c].to_numpy()
        if c in KEY_COLUMNS:
            assert a.tolist() == b.tolist(), c
        else:
            a, b = a.astype(np.float64), b.astype(np.float64)
            assert np.array_equal(a, b, equal_nan=True) and np.array_equal(np.signbit(a), np.signbit(b)), c
    assert all(row["run_id"] == run.run_id for row in nif)


def test_a_name_with_the_array_delimiter_is_refused_in_one_line(tmp_path):
    store_path = tmp_path / "s.duckdb"
    model, neurons = make_model(sizes=(2, 2))
    model = type(model)(**{**model.__dict__, "feature_names": ("a;b", "c")})
    run, edges = make_run(model)
    with DuckDBStore(str(store_path)) as st:
        st.put_model(model, neurons)
        st.put_run(run, edges)
    res = invoke("export", run.run_id, "--format", "neo4j-import", "--out", str(tmp_path / "o"), "--store", str(store_path))
    one_line_error(res, "'a;b'", "array delimiter")
    assert not list((tmp_path / "o").rglob("*.csv"))  # nothing half-written

"""Inputs and files a new user hands nifgraph by mistake: a DuckDB file of another program, a
URL that is not Neo4j, an empty id, absurd sizes, a checkpoint that cannot be written, and
`latest` after a model stored without a run. One line each, nothing stored or half-written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import torch

from .conftest import invoke, one_line_error, stored_models, train_iris


def _tables(path: Path) -> set[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    finally:
        con.close()


def test_a_duckdb_file_of_another_program_is_left_untouched(tmp_path):
    foreign = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(foreign))
    con.execute("CREATE TABLE customers (id INTEGER, name VARCHAR)")
    con.execute("CREATE TABLE models (x INTEGER)")  # even a table named like one of ours
    con.close()
    for args in (["models"], ["train", "--epochs", "2"], ["show", "latest"]):
        res = invoke(*args, "--store", str(foreign))
        assert res.exit_code == 1 and "another program" in res.output and "Traceback" not in res.output
    assert _tables(foreign) == {"customers", "models"}


def test_a_url_that_is_not_neo4j_is_refused_before_anything_is_created(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for uri in ("http://localhost:7687", "neo4jj://localhost:7687"):
        one_line_error(invoke("models", "--store", uri), "neither a Neo4j URI", "neo4j://")
    assert list(tmp_path.iterdir()) == []


def test_empty_id_and_absurd_sizes_are_one_line_errors():
    train_iris()
    res = invoke("show", "")
    assert res.exit_code == 1 and "No model or run given" in res.output
    one_line_error(invoke("run", "--null", "--null-draws", "1000000000"), "'null_draws' parameter", "100,000")
    one_line_error(invoke("train", "--epochs", "1000000000000"), "'epochs' parameter")
    assert len(stored_models()) == 1


def test_a_checkpoint_that_cannot_be_written_stores_nothing(monkeypatch):
    def full_disk(obj, f, *a, **k):
        Path(f).write_bytes(b"half")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed writing file")

    monkeypatch.setattr(torch, "save", full_disk)
    res = invoke("train", "--epochs", "2")
    assert res.exit_code == 1 and "StoreError: Cannot write the model checkpoint" in res.output
    assert "NIFGRAPH_MODELS" in res.output and "Traceback" not in res.output
    assert stored_models() == []
    models_dir = Path(os.environ["NIFGRAPH_STORE"]).parent / "models"
    assert not models_dir.exists() or list(models_dir.iterdir()) == []  # no checkpoint, no .tmp


def test_latest_is_the_newest_run_for_commands_that_need_one(tmp_path):
    first = train_iris()
    run = json.loads(invoke("estimate", first, "--estimator", "gcmi", "--json").stdout)["run_id"]
    train_iris()  # a newer model without a run (a plain train, or an estimate killed half-way)
    res = invoke("export", "latest", "--out", str(tmp_path), "--json")
    assert res.exit_code == 0, res.output
    assert all(Path(p).name.startswith(run) for p in json.loads(res.stdout))

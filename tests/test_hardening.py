"""Inputs and files a new user hands nifgraph by mistake: a DuckDB file of another program, a
URL that is not Neo4j, an empty id, absurd sizes, a store write that fails half-way, and
`latest` after a model stored without a run. One line each, nothing stored or half-written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pytest

from nifgraph.store.duckdb import DuckDBStore

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
    for uri in ("127.0.0.1:7687", "localhost:7687", "db2.internal:7687", "[::1]:7687"):  # a server without a scheme, not a file name
        one_line_error(invoke("train", "--epochs", "2", "--store", uri), "without a scheme", f"neo4j://{uri}")
    assert list(tmp_path.iterdir()) == []


def test_empty_id_and_absurd_sizes_are_one_line_errors():
    train_iris()
    res = invoke("show", "")
    assert res.exit_code == 1 and "No model or run given" in res.output
    one_line_error(invoke("run", "--null", "--null-draws", "1000000000"), "'null_draws' parameter", "100,000")
    one_line_error(invoke("train", "--epochs", "1000000000000"), "'epochs' parameter")
    one_line_error(invoke("run", "--bootstrap", "1000000000"), "'bootstrap' parameter", "10,000")
    one_line_error(invoke("run", "--steps", "10000000000"), "'steps' parameter", "100,000")
    assert len(stored_models()) == 1


def test_a_store_write_that_fails_half_way_stores_nothing(monkeypatch):
    """A full disk while the model and its checkpoint are written: one line, nothing stored."""
    train_iris()

    def full_disk(self, table, rows):
        if table == "checkpoints":
            raise duckdb.IOException("Could not write file: No space left on device")

    monkeypatch.setattr(DuckDBStore, "_after_batch", full_disk)
    res = invoke("run", "--epochs", "2", "--estimator", "gcmi")
    errors = [ln for ln in res.output.splitlines() if "Error" in ln]
    assert res.exit_code == 1 and len(errors) == 1 and "Traceback" not in res.output, res.output
    assert errors[0].startswith("StoreError: Writing to store") and "No space left on device" in errors[0]
    assert len(stored_models()) == 1  # the earlier model only: no model without its run
    assert not (Path(os.environ["NIFGRAPH_STORE"]).parent / "models").exists()  # checkpoints live in the store


def test_latest_is_the_model_last_worked_on_for_every_command(tmp_path):
    """``latest`` names one model for every command: the model of the newest run, or a model
    stored after it without a run. Reading commands used to take the newest run of *any* model
    while ``show`` took the newest model, so ``prune latest`` after importing a model pruned
    another one; now they refuse and say what to run."""
    first = train_iris()
    run = json.loads(invoke("estimate", first, "--estimator", "gcmi", "--json").stdout)["run_id"]
    res = invoke("export", "latest", "--out", str(tmp_path), "--json")
    assert res.exit_code == 0 and all(Path(p).name.startswith(run) for p in json.loads(res.stdout))
    second = train_iris()  # a newer model without a run (a plain train, or an estimate killed half-way)
    assert json.loads(invoke("show", "latest", "--json").stdout)["model_id"] == second
    for args in (["export", "latest", "--out", str(tmp_path)], ["prune", "latest"], ["attribution", "latest"]):
        res = invoke(*args)
        lines = res.output.strip().splitlines()
        assert res.exit_code == 1 and len(lines) == 1 and second in lines[0], (args, res.output)
        assert f"nifgraph estimate {second}" in lines[0] and first not in res.output, (args, res.output)
    # estimating the older model again makes it the one last worked on
    again = json.loads(invoke("estimate", first, "--estimator", "gcmi", "--json").stdout)["run_id"]
    for args in (["show", "latest", "--json"], ["prune", "latest", "--json"]):
        res = invoke(*args)
        assert res.exit_code == 0 and f"run {again} (model {first}" in res.stderr, (args, res.stderr)
    assert json.loads(invoke("show", "latest", "--json").stdout)["model_id"] == first


def test_too_few_samples_for_the_edges_get_a_warning(tmp_path):
    """5000 columns × 60 rows was accepted silently; now the run says why its numbers are noise."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.standard_normal((60, 120)), columns=[f"f{i}" for i in range(120)])
    frame["label"] = (frame["f0"] > 0).astype(int)
    frame.to_csv(tmp_path / "wide.csv", index=False)
    assert invoke("train", "--csv", str(tmp_path / "wide.csv"), "--target", "label", "--hidden", "4",
                  "--epochs", "5").exit_code == 0
    res = invoke("estimate", "latest", "--estimator", "gcmi", "--no-analyze", "--json")
    assert res.exit_code == 0, res.output
    assert "Warning: Only 60 samples for 120 input features" in res.stderr and "--null" in res.stderr
    assert "Warning" not in invoke("run", "--epochs", "5", "--estimator", "gcmi", "--no-plot").stderr  # iris: 150 × 4


def test_a_binary_file_as_csv_and_an_alpha_above_one_are_one_line_errors(tmp_path):
    blob = tmp_path / "photo.csv"
    blob.write_bytes(bytes(range(256)) * 12)  # not text: invalid UTF-8 from byte 0x80 on
    one_line_error(invoke("train", "--csv", str(blob), "--target", "x"), "Could not parse", "as CSV")
    one_line_error(invoke("run", "--alpha", "2"), "'alpha'")
    assert stored_models() == []


def test_a_file_that_is_no_model_names_the_format_to_save_in(tmp_path):
    """Garbage given as --model-file: one line recommending torch.export (the preferred format),
    without the internal exception's name."""

    path = tmp_path / "garbage.pt2"
    path.write_bytes(b"not a model at all")
    res = invoke("train", "--model-file", str(path), "--dataset", "iris")
    assert res.exit_code == 1, res.output
    lines = [ln for ln in res.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "torch.export.save" in lines[0] and "Error)" not in lines[0], res.output


def test_neo4j_uris_with_credentials_or_bad_ports():
    """The URI's user:password is split off (percent-decoded) and never shown; a URI without a
    host or with a port outside 1-65535 is refused in one line before anything connects."""
    from nifgraph.errors import ValidationError
    from nifgraph.store.neo4j_runner import split_uri

    assert split_uri("bolt://127.0.0.1:7687") == ("bolt://127.0.0.1:7687", None, None)
    assert split_uri("bolt://ann:p%40ss%3Aw@127.0.0.1:7687") == ("bolt://127.0.0.1:7687", "ann", "p@ss:w")
    assert split_uri("neo4j+s://ann@db.example.org") == ("neo4j+s://db.example.org", "ann", None)
    for uri in ("bolt://127.0.0.1:99999", "bolt://ann:hunter2@127.0.0.1:0", "bolt://", "bolt://h:port"):
        with pytest.raises(ValidationError, match="needs a host") as e:
            split_uri(uri)
        assert "hunter2" not in str(e.value)
    res = invoke("models", "--store", "bolt://ann:hunter2@127.0.0.1:99999")
    assert res.exit_code == 1 and "'bolt://ann:***@127.0.0.1:99999' needs a host" in res.output and "hunter2" not in res.output


def test_a_job_checks_its_neo4j_store_before_it_trains():
    """An unreachable Neo4j store fails the main job at once, not after the training it would
    have thrown away (nothing listens on 127.0.0.1:1)."""
    res = invoke("run", "--dataset", "iris", "--store", "bolt://127.0.0.1:1")
    assert res.exit_code == 1 and "not reachable" in res.output, res.output
    assert "train" not in res.output.replace("retrain", "")


def test_a_neo4j_login_lockout_says_what_to_do():
    """After too many wrong passwords the server refuses logins for a while: one line naming
    the lock and the variables, not 'Neo4j failed while connecting'."""
    from neo4j import exceptions as nx

    from nifgraph.errors import StoreUnavailableError
    from nifgraph.store.neo4j_runner import DriverRunner

    locked = nx.Neo4jError._hydrate_neo4j(
        code="Neo.ClientError.Security.AuthenticationRateLimit",
        message="The client has provided incorrect authentication details too many times in a row.",
    )
    runner = DriverRunner("bolt://127.0.0.1:7687", "neo4j", "pw", None)
    with pytest.raises(StoreUnavailableError, match="refuses logins for a while .* check NEO4J_USER / NEO4J_PASSWORD"):
        with runner.errors("connecting"):
            raise locked

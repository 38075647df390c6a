"""What happens to real stores: folders moved or copied, stores written by an older nifgraph,
two processes at once, and a job killed with SIGKILL at any point. The store must stay
consistent (no model without its run, nothing half-written) and the next job must work."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from nifgraph.store import open_store
from nifgraph.store.copy import copy_models

from .conftest import invoke, kill_when_paused, wait_until_paused

FAST = ("--epochs", "30", "--estimator", "gcmi")


def _env(store: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ, NIFGRAPH_STORE=str(store), NIFGRAPH_LOCK_TIMEOUT="120", **extra)
    env.pop("COLUMNS", None)
    return env


def _spawn(store: Path, *args: str, **extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "nifgraph", *args], env=_env(store, **extra),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _consistent(store: Path) -> list:
    """Every model has a run, every run its edges; returns the runs."""
    with open_store(str(store)) as st:
        runs = st.list_runs()
        assert {m.model_id for m in st.list_models()} == {r.model_id for r in runs}
        for r in runs:
            assert len(st.get_edges(r.run_id)) > 0
            assert st.checkpoint_of(st.get_model(r.model_id))
        return runs


def test_a_moved_store_folder_keeps_working(tmp_path):
    a = tmp_path / "a" / "s.duckdb"
    assert invoke("run", *FAST, "--store", str(a)).exit_code == 0
    shutil.move(str(tmp_path / "a"), str(tmp_path / "b"))
    b = tmp_path / "b" / "s.duckdb"
    res = invoke("estimate", "latest", "--estimator", "gcmi", "--store", str(b))  # needs the checkpoint
    assert res.exit_code == 0, res.output
    assert list((tmp_path / "b").iterdir()) == [b]  # nothing beside the file: one file is the store


def _make_legacy(path: Path) -> str:
    """A store as nifgraph wrote it before schema 3: checkpoints as files in ``models/``
    beside the DuckDB file, recorded by absolute path."""
    assert invoke("run", *FAST, "--store", str(path)).exit_code == 0
    with open_store(str(path)) as st:
        model = st.list_models()[-1]
        blob = st.get_checkpoint(model.model_id)
    ckpt = path.parent / "models" / f"{model.model_id}.pt"
    ckpt.parent.mkdir()
    ckpt.write_bytes(blob)
    con = duckdb.connect(str(path))
    meta = json.loads(con.execute("SELECT meta FROM models").fetchone()[0])
    con.execute("UPDATE models SET meta = ?", [json.dumps(dict(meta, checkpoint=str(ckpt.resolve())))])
    con.execute("DROP TABLE checkpoints")
    con.execute("UPDATE schema_info SET value = '2'")
    con.close()
    return model.model_id


def test_an_old_store_moved_elsewhere_finds_its_checkpoint_files_and_push_carries_them(tmp_path):
    mid = _make_legacy(tmp_path / "old" / "s.duckdb")
    shutil.move(str(tmp_path / "old"), str(tmp_path / "moved"))
    moved = tmp_path / "moved" / "s.duckdb"
    res = invoke("estimate", mid, "--estimator", "gcmi", "--store", str(moved))
    assert res.exit_code == 0, res.output  # the recorded path is gone; models/ beside the store is used
    with open_store(str(moved)) as src, open_store(str(tmp_path / "copy.duckdb")) as dst:
        copy_models(src, dst)
        assert dst.get_checkpoint(mid) == (tmp_path / "moved" / "models" / f"{mid}.pt").read_bytes()
    shutil.rmtree(tmp_path / "moved")
    res = invoke("estimate", mid, "--estimator", "gcmi", "--store", str(tmp_path / "copy.duckdb"))
    assert res.exit_code == 0, res.output  # the copy carries the checkpoint itself


def test_readers_answer_while_a_job_works_and_two_jobs_both_complete(tmp_path):
    store = tmp_path / "s.duckdb"
    assert invoke("run", *FAST, "--store", str(store)).exit_code == 0
    ready = tmp_path / "ready"
    paused = _spawn(store, "run", *FAST, NIFGRAPH_FAULT_PAUSE="estimate", NIFGRAPH_FAULT_READY=str(ready))
    second = _spawn(store, "run", *FAST, "--seed", "3")
    third = _spawn(store, "run", *FAST, "--seed", "4")
    try:
        wait_until_paused(paused, ready, timeout=120, poll=0.2)
        res = invoke("models", "--store", str(store), "--json")  # while the first job estimates
        assert res.exit_code == 0, res.output
        for job in (second, third):
            out, err = job.communicate(timeout=300)
            assert job.returncode == 0, err
    finally:
        paused.kill()
        paused.wait()
    assert len(_consistent(store)) == 3  # the paused job left nothing


@pytest.mark.slow
@pytest.mark.parametrize("point", ["train", "estimate", "write:checkpoints", "write:edges", "write:neuron_metrics"])
def test_a_job_killed_at_any_point_leaves_a_consistent_store(tmp_path, point):
    store = tmp_path / "s.duckdb"
    assert invoke("run", *FAST, "--store", str(store)).exit_code == 0
    with open_store(str(store)) as st:
        before = st.get_analysis(st.list_runs()[-1].run_id)
    ready = tmp_path / "ready"
    job = _spawn(store, "run", *FAST, "--seed", "7", NIFGRAPH_FAULT_PAUSE=point, NIFGRAPH_FAULT_READY=str(ready))
    kill_when_paused(job, ready, timeout=120)
    runs = _consistent(store)
    # the model and its run are written together; only a kill during the analysis write leaves
    # the new run (without an analysis, which `nifgraph analyze` adds)
    assert len(runs) == (2 if point == "write:neuron_metrics" else 1)
    with open_store(str(store)) as st:
        assert st.get_analysis(runs[0].run_id).neuron_metrics.equals(before.neuron_metrics)
        if len(runs) == 2:
            assert st.get_analysis(runs[1].run_id) is None
    res = invoke("run", *FAST, "--store", str(store))
    assert res.exit_code == 0, res.output
    assert len(_consistent(store)) == len(runs) + 1


@pytest.mark.parametrize(("name", "content"), [("data.csv", b"sepal,petal\n1,2\n"), ("empty.duckdb", b"")])
def test_a_file_that_is_not_a_store_is_named_as_such_and_left_untouched(tmp_path, name, content):
    """A CSV (or an empty file) given as the store: one line saying it is not a nifgraph store,
    for reading and writing commands alike, and the file keeps its bytes."""
    path = tmp_path / name
    path.write_bytes(content)
    for args in (("models",), ("train", "--epochs", "1")):
        res = invoke(*args, "--store", str(path))
        assert res.exit_code == 1, res.output
        lines = [ln for ln in res.output.strip().splitlines() if ln.strip()]
        assert len(lines) == 1 and "is not a nifgraph store" in lines[0] and "read-only" not in lines[0], res.output
    assert path.read_bytes() == content

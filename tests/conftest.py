"""Shared fixtures and CLI helpers. Every test runs with the store, data home and outputs in a
temporary folder, and with the Banknote loader pointed at ``../shared/data/banknote.csv``."""

from __future__ import annotations

import glob
import os
import random
import sys
from pathlib import Path

# Triton's interpreter (tests/test_mi_triton.py runs the GPU kernel on this CPU) is chosen when
# triton is first imported, so before anything can import it; no other test uses triton. Where
# a GPU is present the kernel runs compiled instead (TRITON_INTERPRET left as the caller set it).
if "triton" not in sys.modules and not glob.glob("/dev/nvidia[0-9]*"):  # a lent card keeps its host number
    os.environ.setdefault("TRITON_INTERPRET", "1")

import numpy as np
import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
BANKNOTE = Path(os.environ.get("NIFGRAPH_BANKNOTE_CSV", ROOT.parent / "shared/data/banknote.csv"))

NEO4J_SKIP = "Neo4j tests need a server: set NEO4J_URI (and NEO4J_USER, NEO4J_PASSWORD)"

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    monkeypatch.setenv("NIFGRAPH_STORE", str(tmp_path / "store" / "nif.duckdb"))
    monkeypatch.setenv("NIFGRAPH_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("NIFGRAPH_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("NIFGRAPH_BANKNOTE_CSV", str(BANKNOTE))
    random.seed(0)
    np.random.seed(0)
    yield


@pytest.fixture
def one_torch_thread():
    """One intra-op thread for tests of tiny convolutional models: on a busy 2-core machine a
    small conv runs ~40x faster on one thread than on two (measured, load 5)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def neo4j_env() -> dict[str, str] | None:
    uri = os.environ.get("NEO4J_URI")
    if not uri:
        return None
    return {
        "uri": uri,
        "user": os.environ.get("NEO4J_USER", "neo4j"),
        "password": os.environ.get("NEO4J_PASSWORD", ""),
    }


def open_neo4j_store():
    """A Neo4j store from the environment with its schema created, or a skip with the reason."""
    env = neo4j_env()
    if env is None:
        pytest.skip(NEO4J_SKIP)
    from nifgraph.store.neo4j import Neo4jStore

    s = Neo4jStore(env["uri"], env["user"], env["password"])
    s.init_schema()
    return s


@pytest.fixture(params=["duckdb", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def store(request, tmp_path):
    """Every store implementation, for the conformance suite. Models a test registers in
    ``store._test_created`` are deleted afterwards."""
    if request.param == "duckdb":
        from nifgraph.store.duckdb import DuckDBStore

        s = DuckDBStore(str(tmp_path / "conf.duckdb"))
    else:
        s = open_neo4j_store()
    created: list[str] = []
    s._test_created = created  # type: ignore[attr-defined]
    try:
        yield s
    finally:
        for mid in created:
            try:
                s.delete_model(mid)
            except Exception:
                pass
        s.close()


@pytest.fixture(params=["duckdb", "neo4j-sim", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def read_store(request, tmp_path):
    """``store`` plus the Neo4j store on the in-memory stand-in of the server
    (:class:`tests.fakes.GraphRunner`), for the tests of what runs read back (``iter_edges``)."""
    from nifgraph.store.duckdb import DuckDBStore
    from nifgraph.store.neo4j import Neo4jStore

    from .fakes import GraphRunner

    if request.param == "duckdb":
        s = DuckDBStore(str(tmp_path / "conf.duckdb"))
    elif request.param == "neo4j-sim":
        s = Neo4jStore("bolt://sim:7687", "neo4j", "pw", runner=GraphRunner())
    else:
        s = open_neo4j_store()
    s._test_created = []  # type: ignore[attr-defined]
    try:
        yield s
    finally:
        for mid in s._test_created if request.param == "neo4j" else ():  # type: ignore[attr-defined]
            try:
                s.delete_model(mid)
            except Exception:
                pass
        s.close()


@pytest.fixture
def neo(request):
    """The Neo4j store alone (server tests); cleans up like ``store``."""
    s = open_neo4j_store()
    s._test_created = []  # type: ignore[attr-defined]
    try:
        yield s
    finally:
        for mid in s._test_created:  # type: ignore[attr-defined]
            try:
                s.delete_model(mid)
            except Exception:
                pass
        s.close()


# -- the CLI as a user runs it (imports are lazy: conftest loads before every test) -------
def wait_until_paused(job, ready: Path, timeout: float = 120, poll: float = 0.1) -> None:
    """Wait until the subprocess ``job`` reaches its fault point (it creates ``ready``,
    ``NIFGRAPH_FAULT_READY``); fails with its output if it exits first or ``timeout`` passes."""
    import time

    deadline = time.monotonic() + timeout
    while not ready.exists():
        assert job.poll() is None and time.monotonic() < deadline, job.communicate()
        time.sleep(poll)


def kill_when_paused(job, ready: Path, timeout: float = 120) -> None:
    """:func:`wait_until_paused`, then SIGKILL the job and reap it."""
    import signal

    wait_until_paused(job, ready, timeout)
    os.kill(job.pid, signal.SIGKILL)
    job.wait()


def invoke(*args: str):
    """``nifgraph *args`` through typer's CliRunner; exceptions propagate."""
    from nifgraph.cli import app

    return runner.invoke(app, list(args), catch_exceptions=False)


def one_line_error(res, *needles: str) -> None:
    """Exit code 1 and a single ``ValidationError: …`` line naming every needle (no traceback)."""
    assert res.exit_code == 1, res.output
    lines = [ln for ln in res.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("ValidationError: "), res.output
    for n in needles:
        assert n in lines[0], res.output


def stored_models() -> list:
    """The models in the (temporary) default store."""
    from nifgraph.store import open_store

    with open_store() as st:
        return st.list_models()


def write_csv(path: Path, rows: int, header: str = "a,b,y", constant_target: bool = False) -> Path:
    """A small deterministic two-class CSV (target ``y`` alternating unless constant)."""
    lines = [header]
    for i in range(rows):
        c = 0 if constant_target else i % 2
        lines.append(",".join([f"{(i * 7919 % 97) / 97 + c}", f"{(i * 104729 % 89) / 89}", str(c)][: header.count(",") + 1]))
    path.write_text("\n".join(lines) + "\n")
    return path


def train_iris(*extra: str) -> str:
    """``nifgraph train --epochs 2`` on Iris; the new model's id."""
    res = invoke("train", "--epochs", "2", *extra)
    assert res.exit_code == 0, res.output
    return stored_models()[-1].model_id


def load_script(name: str):
    """Import ``scripts/<name>.py`` as a module (the scripts are not a package)."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses resolve string annotations through sys.modules
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        sys.modules.pop(spec.name, None)
        raise
    return mod

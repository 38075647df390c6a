"""Progress (issue #10): each bar's clock times its own step (the NIF bar does not include
training), and without a terminal progress is plain lines on stderr, not bars dumped at the end."""

from __future__ import annotations

import io
import json
import re
import time

import pytest
from rich.console import Console

from nifgraph.cli import options

from .conftest import invoke


def test_without_a_terminal_progress_is_plain_lines_per_step():
    res = invoke("run", "--epochs", "3", "--estimator", "gcmi", "--no-plot")
    assert res.exit_code == 0, res.output
    assert re.search(r"^train: 3/3 done in \d+\.\d s$", res.stderr, re.M), res.stderr
    assert re.search(r"^NIF \(gcmi\): 35/35 done in \d+\.\d s$", res.stderr, re.M), res.stderr
    assert "━" not in res.stderr  # no bar drawn
    assert json.loads(invoke("run", "--epochs", "3", "--estimator", "gcmi", "--no-plot", "--json").stdout)
    assert "train:" not in invoke("run", "--epochs", "3", "--estimator", "gcmi", "--no-plot", "--json").stderr


def test_plain_lines_come_while_a_step_runs(monkeypatch):
    monkeypatch.setattr(options, "PLAIN_EVERY_S", 0.0)
    buf = io.StringIO()
    monkeypatch.setattr(options, "err_console", Console(file=buf, force_terminal=False, width=80))
    with options.bars("train", "NIF (mine)") as (on_train, on_est):
        on_train(0, 4)
        on_train(2, 4)
        first = buf.getvalue()
        on_train(4, 4)
        on_est(0, 0)
        on_est(35, 35)
    assert first.strip() == "train: 2/4 (50%) 0.0 s"  # printed before the step ends
    assert buf.getvalue().splitlines()[1:] == ["train: 4/4 done in 0.0 s", "NIF (mine): 35/35 done in 0.0 s"]


def _clock(text: str, step: str) -> str:
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    return re.findall(rf"{re.escape(step)} .*?(\d+:\d\d:\d\d)", plain)[-1]


def test_each_bar_times_its_own_step(monkeypatch):
    buf = io.StringIO()
    monkeypatch.setattr(options, "err_console", Console(file=buf, force_terminal=True, width=100))
    with options.bars("train", "NIF (mine)") as (on_train, on_est):
        on_train(0, 2)
        time.sleep(1.2)
        on_train(2, 2)
        on_est(0, 0)  # the estimation starts after training: its clock starts now
        on_est(35, 35)
    text = buf.getvalue()
    assert _clock(text, "train") == "0:00:01"
    assert _clock(text, "NIF (mine)") == "0:00:00"


def test_the_pipeline_marks_the_start_of_each_step():
    from nifgraph.data import load_dataset
    from nifgraph.network import TrainConfig
    from nifgraph.pipeline import run_main_job
    from nifgraph.settings import EstimationSettings
    from nifgraph.store import open_store

    calls: dict[str, list] = {"train": [], "nif": []}
    with open_store() as st:
        run_main_job(
            st, load_dataset("iris", seed=0), TrainConfig(epochs=2), EstimationSettings("gcmi"),
            on_train=lambda d, t: calls["train"].append((d, t)), on_estimate=lambda d, t: calls["nif"].append((d, t)),
        )
    assert calls["train"][0] == (0, 2) and calls["train"][-1] == (2, 2)
    assert calls["nif"][0] == (0, 0) and calls["nif"][-1] == (35, 35)


def test_a_first_estimate_on_a_terminal_says_it_compiles(monkeypatch):
    """The one line before a first CPU estimate, while numba's cache has no loop for this
    machine: on a terminal only, and only where the compiled loop is what will run."""
    from rich.console import Console

    from nifgraph.cli import options
    from nifgraph.mi import _kernel
    from nifgraph.settings import EstimationSettings

    def said(est, *, terminal=True, cached=False):
        console = Console(stderr=True, force_terminal=terminal, record=True, width=120)
        monkeypatch.setattr(options, "err_console", console)
        monkeypatch.setattr(_kernel, "is_cached", lambda: cached)
        options.compile_notice(est)
        return console.export_text()

    cpu = EstimationSettings(device="cpu")
    assert "compiling its training loop" in said(cpu)
    assert said(cpu, cached=True) == ""
    assert said(cpu, terminal=False) == ""  # a log or a pipe: nothing
    assert said(EstimationSettings(estimator="gcmi", device="cpu")) == ""
    assert said(EstimationSettings(device="cpu", options={"kernel": "bmm"})) == ""
    assert said(EstimationSettings(device="cpu", ray="local")) == ""
    assert "compiling its training loop" in said(EstimationSettings(estimator="smile", device="cpu"))


def test_is_cached_is_true_once_the_loop_is_loaded():
    from nifgraph.mi import _kernel

    if not _kernel.HAVE_NUMBA:
        pytest.skip("numba is not installed")
    _kernel.ensure_cached()
    assert _kernel.is_cached()

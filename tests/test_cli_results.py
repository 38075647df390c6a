"""nifgraph.cli.results: ``show --top`` must be positive; ``delete`` takes a model id prefix
or ``latest`` but refuses a run id, with one clear line and exit code 1."""

from __future__ import annotations

import json

from nifgraph.store import open_store

from .conftest import invoke, one_line_error, stored_models, train_iris


def test_show_top_must_be_positive():
    train_iris()
    one_line_error(invoke("show", "latest", "--top", "0"), "--top")
    one_line_error(invoke("show", "latest", "--top", "-1"), "--top")


def test_delete_takes_prefix_and_latest_but_refuses_a_run_id():
    a = train_iris()
    b = train_iris("--seed", "1")
    assert invoke("estimate", b, "--estimator", "gcmi", "--no-analyze").exit_code == 0
    with open_store() as st:
        run_id = st.list_runs(b)[-1].run_id
    one_line_error(invoke("delete", run_id, "--yes"), "is a run of model", b)
    assert [m.model_id for m in stored_models()] == [a, b]
    assert invoke("delete", "latest", "--yes").exit_code == 0
    assert invoke("delete", a[:8], "--yes").exit_code == 0
    assert stored_models() == []


def test_show_of_a_model_without_run_names_the_next_step(tmp_path):
    """A model stored without a run: show points at `nifgraph estimate`, which is what works."""
    r = invoke("train", "--epochs", "5", "--json")
    mid = json.loads(r.stdout)["model_id"]
    shown = invoke("show", mid)
    assert shown.exit_code == 0 and f"nifgraph estimate {mid}" in shown.stdout and "analyze" not in shown.stdout


def test_export_and_plot_into_a_file_path_fail_in_one_line(tmp_path):
    mid = train_iris()
    assert invoke("estimate", mid, "--estimator", "gcmi").exit_code == 0
    blocker = tmp_path / "taken"
    blocker.write_text("x")
    one_line_error(invoke("export", mid, "--out", str(blocker)), "is a file", "--out")
    one_line_error(invoke("plot", mid, "--out", str(blocker)), "is a file", "--out")
    assert blocker.read_text() == "x"

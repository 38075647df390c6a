"""Commands name the run they used (on stderr, so stdout stays clean for --json), and commands
that read results pick the newest *analysed* run of a model (``latest``: of the model last worked on)."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import invoke, train_iris


def _estimate(ref: str, *extra: str) -> str:
    res = invoke("estimate", ref, "--estimator", "gcmi", "--json", *extra)
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)["run_id"]


def test_reading_commands_use_the_newest_analysed_run_and_say_so(tmp_path):
    mid = train_iris()
    analysed = _estimate(mid)
    newer = _estimate(mid, "--no-analyze")
    for ref, where in ((mid, "newest analysed run"), ("latest", "newest analysed run")):
        for args in (
            ["attribution", ref, "--json"],
            ["plot", ref, "--out", str(tmp_path / "fig"), "--json"],
            ["export", ref, "--out", str(tmp_path / "exp"), "--json"],
            ["show", ref, "--json"],
            ["prune", ref, "--json"],
        ):
            res = invoke(*args)
            assert res.exit_code == 0, (args, res.output)
            json.loads(res.stdout)  # stdout is the JSON alone
            note = f"run {analysed} (model {mid}, {where if args[0] != 'show' else 'newest analysed run'}"
            assert note in res.stderr and f"{newer} is newer but not analysed" in res.stderr, (args, res.stderr)
    assert json.loads(invoke("show", mid, "--json").stdout)["run_id"] == analysed
    # a run named by id is used as given, and analyze still takes the newest run
    res = invoke("show", newer, "--json")
    assert json.loads(res.stdout)["run_id"] == newer and f"run {newer} (model {mid})" in res.stderr
    res = invoke("analyze", mid, "--json")
    assert json.loads(res.stdout)["run_id"] == newer


def test_models_and_compare_all_keep_the_newest_analysed_run():
    """A newer, unanalysed run (estimate --no-analyze) hides nothing: `models` still counts the
    prunable units of the newest analysed run and `compare --all` still compares the model
    (both used to look at the newest run only)."""
    mid = train_iris()
    _estimate(mid)
    before = {r["model_id"]: r for r in json.loads(invoke("models", "--json").stdout)}[mid]
    assert before["prunable"] is not None
    _estimate(mid, "--no-analyze")
    after = {r["model_id"]: r for r in json.loads(invoke("models", "--json").stdout)}[mid]
    assert after["runs"] == before["runs"] + 1 and after["prunable"] == before["prunable"]
    res = invoke("compare", "--all", "--json")
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["left_out"] == [] and mid in json.dumps(d)


def test_a_model_with_no_analysed_run_names_the_command_that_analyses_it():
    mid = train_iris()
    run = _estimate(mid, "--no-analyze")
    res = invoke("attribution", mid)
    assert res.exit_code == 1 and f"nifgraph analyze {run}" in res.stderr
    res = invoke("export", mid, "--json")  # export works on an unanalysed run (edges only)
    assert res.exit_code == 0 and f"run {run} (model {mid}, newest run)" in res.stderr


def test_plot_html_is_small_centred_and_labelled(tmp_path):
    """`plot --html` on Iris: a page of a few KB (no inlined JavaScript library), inputs named
    by feature and outputs by class."""
    mid = train_iris()
    _estimate(mid)
    res = invoke("plot", mid, "--html", "--out", str(tmp_path), "--json")
    assert res.exit_code == 0, res.output
    page = next(p for p in map(Path, json.loads(res.stdout)) if p.suffix == ".html")
    assert page.stat().st_size < 200_000
    text = page.read_text(encoding="utf-8")
    for feature in ("sepal length (cm)", "petal width (cm)"):
        assert f'text-anchor="end">{feature}</text>' in text
    for cls in ("setosa", "versicolor", "virginica"):
        assert f'text-anchor="start">{cls}</text>' in text

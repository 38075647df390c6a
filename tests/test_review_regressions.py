"""Regressions found in a user-level review of the CLI: each bad input gets one clear line and
exit code 1 (no traceback), and what a user copies or reads is not cut."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from nifgraph.cli import app
from nifgraph.store import open_store

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def _one_line_error(res, *needles: str) -> None:
    assert res.exit_code == 1, res.output
    lines = [ln for ln in res.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("ValidationError: "), res.output
    for n in needles:
        assert n in lines[0], res.output


def _models() -> list:
    with open_store() as st:
        return st.list_models()


def _write_csv(path: Path, rows: int, header: str = "a,b,y", constant_target: bool = False) -> Path:
    lines = [header]
    for i in range(rows):
        c = 0 if constant_target else i % 2
        lines.append(",".join([f"{(i * 7919 % 97) / 97 + c}", f"{(i * 104729 % 89) / 89}", str(c)][: header.count(",") + 1]))
    path.write_text("\n".join(lines) + "\n")
    return path


def _train_iris(*extra: str) -> str:
    res = invoke("train", "--epochs", "2", *extra)
    assert res.exit_code == 0, res.output
    return _models()[-1].model_id


# -- data: split errors, degenerate CSVs, seeds ---------------------------------------
def test_split_too_small_for_test_size_is_one_line(tmp_path):
    csv = _write_csv(tmp_path / "tiny.csv", 5)
    for size in ("0.05", "0.9"):
        res = invoke("train", "--csv", str(csv), "--target", "y", "--test-size", size)
        _one_line_error(res, "Cannot split", "--test-size")
    assert _models() == []


def test_csv_with_header_only_or_no_feature_column(tmp_path):
    header_only = tmp_path / "header.csv"
    header_only.write_text("a,b,y\n")
    _one_line_error(invoke("train", "--csv", str(header_only), "--target", "y"), "no data rows")
    only_target = tmp_path / "only.csv"
    only_target.write_text("y\n" + "".join(f"{i % 2}\n" for i in range(40)))
    _one_line_error(invoke("train", "--csv", str(only_target), "--target", "y"), "no feature column")
    _one_line_error(invoke("train", "--csv", str(tmp_path), "--target", "y"), "is a folder")
    assert _models() == []


def test_negative_seed_is_one_line():
    _one_line_error(invoke("train", "--seed", "-1", "--epochs", "2"), "--seed")
    assert _models() == []


def test_relative_csv_path_still_found_from_another_folder(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    _write_csv(data / "rel.csv", 60)
    monkeypatch.chdir(data)
    assert invoke("train", "--csv", "rel.csv", "--target", "y", "--epochs", "2").exit_code == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    res = invoke("estimate", "latest", "--estimator", "gcmi", "--no-analyze", "--json")
    assert res.exit_code == 0, res.output


# -- training options ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--hidden", "100000000"), "weights"),
        (("--hidden", "20000,20000"), "weights"),
        (("--dropout", "1.5"), "dropout"),
        (("--activation", "foo"), "activation"),
    ],
)
def test_bad_training_options_fail_before_any_work(args, needle):
    res = invoke("train", *args)
    _one_line_error(res, needle)  # one line: no progress bar drawn before the error
    assert _models() == []


# -- show --top, delete by prefix / latest, but not by run id ---------------------------
def test_show_top_must_be_positive():
    _train_iris()
    _one_line_error(invoke("show", "latest", "--top", "0"), "--top")
    _one_line_error(invoke("show", "latest", "--top", "-1"), "--top")


def test_delete_takes_prefix_and_latest_but_refuses_a_run_id():
    a = _train_iris()
    b = _train_iris("--seed", "1")
    assert invoke("estimate", b, "--estimator", "gcmi", "--no-analyze").exit_code == 0
    with open_store() as st:
        run_id = st.list_runs(b)[-1].run_id
    _one_line_error(invoke("delete", run_id, "--yes"), "is a run of model", b)
    assert [m.model_id for m in _models()] == [a, b]
    assert invoke("delete", "latest", "--yes").exit_code == 0
    assert invoke("delete", a[:8], "--yes").exit_code == 0
    assert _models() == []


# -- what users read and copy ------------------------------------------------------------
def test_model_ids_are_not_truncated_in_narrow_tables():
    from rich.console import Console

    from nifgraph.render.tables import models_table

    mid = "m-0123456789ab"
    row = dict(model_id=mid, name="a-rather-long-model-name-" * 2, dataset="breast-cancer",
               architecture="30-64-32-2", activation="relu", test_accuracy=0.9, runs=3, prunable=1,
               hidden=96, created_at="2026-01-01T00:00:00+00:00")
    console = Console(width=60, record=True)
    console.print(models_table([row]))
    assert mid in console.export_text()


def test_compare_plot_labels_rows_with_feature_names(monkeypatch):
    from matplotlib.figure import Figure

    from nifgraph.analysis.summaries import compare_models

    mid = _train_iris()
    assert invoke("estimate", mid, "--estimator", "gcmi").exit_code == 0
    with open_store() as st:
        res = compare_models(st, [mid])
        features = st.get_model(mid).feature_names
    assert res.summaries[0].feature_names == tuple(features)
    assert "feature_names" not in res.table().columns

    seen = []
    monkeypatch.setattr(Figure, "savefig", lambda self, *a, **k: seen.append(self))
    assert invoke("compare", mid, "--plot").exit_code == 0
    labels = [t.get_text() for t in seen[0].axes[0].get_yticklabels()]
    assert labels == list(features)


def test_latest_is_the_newest_model_even_within_one_second():
    from nifgraph.records import now_iso

    stamps = [now_iso() for _ in range(3)]
    assert stamps == sorted(stamps) and len({len(s) for s in stamps}) == 1  # fixed width, ordered
    ids = [_train_iris("--seed", str(s)) for s in range(3)]  # fast: usually within one second
    with open_store() as st:
        assert st.resolve("latest")[0].model_id == ids[-1]
        assert [m.model_id for m in st.list_models()] == ids


def test_prune_curve_seeds_are_bounded():
    from nifgraph.analysis.pruning import MAX_SEEDS, prune_curves
    from nifgraph.errors import ValidationError

    with pytest.raises(ValidationError, match="seeds"):
        prune_curves(None, [], None, None, seeds=MAX_SEEDS + 1)
    with pytest.raises(ValidationError, match="seeds"):
        prune_curves(None, [], None, None, seeds=0)

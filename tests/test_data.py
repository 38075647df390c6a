"""nifgraph.data through ``nifgraph train``: split errors, degenerate CSVs, seeds and relative
CSV paths each give one clear line and exit code 1 (no traceback), and nothing is stored."""

from __future__ import annotations

from .conftest import invoke, one_line_error, stored_models, write_csv


def test_split_too_small_for_test_size_is_one_line(tmp_path):
    csv = write_csv(tmp_path / "tiny.csv", 5)
    for size in ("0.05", "0.9"):
        res = invoke("train", "--csv", str(csv), "--target", "y", "--test-size", size)
        one_line_error(res, "Cannot split", "--test-size")
    assert stored_models() == []


def test_csv_with_header_only_or_no_feature_column(tmp_path):
    header_only = tmp_path / "header.csv"
    header_only.write_text("a,b,y\n")
    one_line_error(invoke("train", "--csv", str(header_only), "--target", "y"), "no data rows")
    only_target = tmp_path / "only.csv"
    only_target.write_text("y\n" + "".join(f"{i % 2}\n" for i in range(40)))
    one_line_error(invoke("train", "--csv", str(only_target), "--target", "y"), "no feature column")
    one_line_error(invoke("train", "--csv", str(tmp_path), "--target", "y"), "is a folder")
    assert stored_models() == []


def test_negative_seed_is_one_line():
    one_line_error(invoke("train", "--seed", "-1", "--epochs", "2"), "--seed")
    assert stored_models() == []


def test_relative_csv_path_still_found_from_another_folder(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    write_csv(data / "rel.csv", 60)
    monkeypatch.chdir(data)
    assert invoke("train", "--csv", "rel.csv", "--target", "y", "--epochs", "2").exit_code == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    res = invoke("estimate", "latest", "--estimator", "gcmi", "--no-analyze", "--json")
    assert res.exit_code == 0, res.output

"""What users read at 80 columns (issue #10): no name, header or number cut with "…", numbers
parseable (never "0.0…"), `compare --all` one line per model, details behind --details."""

from __future__ import annotations

import json

import pytest

from .conftest import invoke, train_iris
from .test_render_layout import table_rows


@pytest.fixture(autouse=True)
def _eighty_columns(monkeypatch):
    from nifgraph.cli.options import console, err_console

    for c in (console, err_console):
        monkeypatch.setattr(c, "_width", 80)


def _readable(res) -> str:
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "…" not in out, out
    assert max(len(ln.rstrip()) for ln in out.splitlines()) <= 80, out
    return out


def _estimated(*train_args: str) -> str:
    mid = train_iris(*train_args)
    assert invoke("estimate", mid, "--estimator", "gcmi", "--json").exit_code == 0
    return mid


def test_reports_of_a_small_model_fit_80_columns():
    mid = _estimated()
    for args in (["models"], ["show", mid], ["attribution", mid], ["prune", mid, "--threshold", "0.5"],
                 ["prune", mid, "--curve", "--seeds", "1"], ["attribution", mid, "--method", "path"]):
        out = _readable(invoke(*args))
        for table in table_rows(out):
            assert table, (args, out)
    out = _readable(invoke("attribution", mid))
    for row in table_rows(out)[0]:
        assert len(row) == 4 and all(float(c) >= 0 for c in row[1:])


def test_digits_attribution_is_split_not_cut_and_its_numbers_parse():
    mid = _estimated("--dataset", "digits", "--hidden", "8")
    out = _readable(invoke("attribution", mid))
    parts = table_rows(out)
    assert len(parts) >= 2 and all(len(p) == 64 for p in parts)
    assert sum(len(p[0]) - 1 for p in parts) == 10
    for p in parts:
        for row in p:
            assert row[0].startswith("pixel_")
            assert all(0 <= float(c) <= 1 for c in row[1:])
    _readable(invoke("show", mid))


def test_compare_all_is_one_line_per_model_with_details_behind_an_option():
    ids = [_estimated() for _ in range(2)] + [_estimated("--hidden", "6")]
    out = _readable(invoke("compare", "--all"))
    rows = table_rows(out)[0]
    assert [r[0] for r in rows] == ids  # one line each
    assert len(out.strip().splitlines()) <= len(ids) + 8
    assert "Spearman ρ" in out and "--details" in out
    detailed = _readable(invoke("compare", "--all", "--details"))
    assert "top features per class" in detailed and "Kendall" in detailed
    assert len(detailed.splitlines()) > len(out.splitlines())
    assert len(json.loads(invoke("compare", "--all", "--json").stdout)["models"]) == 3


def test_compare_all_names_the_models_it_leaves_out():
    done = _estimated()
    bare = train_iris()  # trained, never estimated
    out = _readable(invoke("compare", "--all"))
    assert [r[0] for r in table_rows(out)[0]] == [done]
    assert "left out 1 model(s) without an analysed run" in out and bare in out
    assert json.loads(invoke("compare", "--all", "--json").stdout)["left_out"] == [bare]
    res = invoke("compare", "--dataset", "iris")
    assert res.exit_code == 0 and bare in res.stdout

"""What writes a stored run out reads it in slices too (issue #14, memory: nothing holds all edges
twice): ``export`` (Parquet and CSV) and ``push`` / ``pull`` (``store.copy.copy_models``) go
through ``Store.iter_edges`` and must give exactly what they gave from the whole table.

The reference for ``export`` is the frame-based code before this change (below: ``get_edges``,
the columns assigned on the whole frame, ``to_parquet`` / ``to_csv``); for the copy, the source's
own ``get_edges``. Sources run on DuckDB, on the Neo4j store against the in-memory stand-in of the
server and on a server when NEO4J_URI is set (``read_store``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nifgraph.errors import NotFoundError, ValidationError
from nifgraph.records import layer_table
from nifgraph.render.export import export_run
from nifgraph.render.files import write_files
from nifgraph.store.copy import copy_models
from nifgraph.store.duckdb import DuckDBStore

from .store_fixtures import make_analysis, make_dag_model, make_edges, make_model
from .test_streamed_read import _Unpatched, same_bits


def _stored(store, dag, seed=0, edges=True):
    model, neurons = make_dag_model() if dag else make_model(sizes=(4, 5, 3))
    store._test_created.append(model.model_id)
    store.put_model(model, neurons)
    run, table = make_edges(model, seed=seed)
    if dag:  # the export marks a DAG run's pairs by their samples (one pair on positions)
        from dataclasses import replace

        run = replace(run, settings={**run.settings, "conv_samples": "means", "position_pairs": [[1, 2]]})
    if not edges:
        table = table.iloc[:0]
    store.put_run(run, table)
    return model, run


def ref_edges_frame(store, model, run):
    """The edge table export wrote before, built from the whole table (the old code)."""
    names = [la["name"] for la in layer_table(model)]
    edges = _Unpatched(store).get_edges(run.run_id).assign(model_id=model.model_id)
    edges = edges.assign(
        src_layer_name=[names[i] for i in edges["src_layer"]], dst_layer_name=[names[i] for i in edges["dst_layer"]],
        skip=(edges["dst_layer"] - edges["src_layer"]) > 1,
    )
    if "conv_samples" in run.settings:
        on_pos = {tuple(p) for p in run.settings.get("position_pairs") or []}
        edges = edges.assign(samples=[
            "positions" if (a, b) in on_pos else "means"
            for a, b in zip(edges["src_layer"].tolist(), edges["dst_layer"].tolist(), strict=True)
        ])
    return edges


def _wrap_slices(store, monkeypatch, read_rows, change):
    """``store.iter_edges`` in slices of ``read_rows``, each slice ``n`` passed through
    ``change(n, part)`` (which may raise, alter or note it)."""
    monkeypatch.setattr(store, "read_rows", read_rows)
    iter_edges = store.iter_edges

    def wrapped(*a, **kw):
        for n, part in enumerate(iter_edges(*a, **kw)):
            yield change(n, part)

    monkeypatch.setattr(store, "iter_edges", wrapped)


def _refuse_whole_table(store, monkeypatch, read_rows):
    def refuse(run_id):
        raise AssertionError("the whole edge table was read (get_edges)")

    monkeypatch.setattr(store, "get_edges", refuse)
    calls = []
    _wrap_slices(store, monkeypatch, read_rows, lambda n, part: calls.append(len(part)) or part)
    return calls


def _same_frame(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(want.columns) and len(got) == len(want)
    for c in want.columns:
        g, w = got[c].to_numpy(), want[c].to_numpy()
        if w.dtype.kind == "f":
            assert np.array_equal(np.isnan(g), np.isnan(w)) and same_bits(np.nan_to_num(g), np.nan_to_num(w)), c
        else:
            assert list(g) == list(w), c


# -- export ---------------------------------------------------------------------------------
@pytest.mark.parametrize("dag", [False, True], ids=["chain", "dag"])
@pytest.mark.parametrize("read_rows", [4, 13, None])
def test_export_in_slices_writes_what_the_whole_table_wrote(read_store, tmp_path, monkeypatch, dag, read_rows):
    model, run = _stored(read_store, dag)
    want = ref_edges_frame(read_store, model, run)
    calls = _refuse_whole_table(read_store, monkeypatch, read_rows or read_store.read_rows)
    paths = export_run(read_store, model, run, make_analysis(model, run), tmp_path / "out", "both")
    assert sorted(p.name for p in paths) == sorted(
        f"{run.run_id}_{k}.{x}" for k in ("nodes", "edges") for x in ("parquet", "csv"))
    if read_rows is not None:
        assert len(calls) > 1 and max(calls) <= read_rows  # several slices, none larger than asked
    assert sum(calls) == len(want)
    out = tmp_path / "out"
    want.to_parquet(tmp_path / "ref.parquet", index=False)  # what the old code wrote
    pd.testing.assert_frame_equal(pd.read_parquet(out / f"{run.run_id}_edges.parquet"),
                                  pd.read_parquet(tmp_path / "ref.parquet"), check_exact=True)
    _same_frame(pd.read_parquet(out / f"{run.run_id}_edges.parquet"), want)
    # the CSV is byte for byte what one to_csv of the whole table wrote
    assert (out / f"{run.run_id}_edges.csv").read_text(encoding="utf-8") == want.to_csv(index=False)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths)  # no temporary file left
    if dag:
        assert set(want["samples"]) == {"means", "positions"} and want["skip"].any()


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_export_one_format_and_a_run_without_edges(tmp_path, fmt):
    with DuckDBStore(str(tmp_path / "s.duckdb")) as st:
        st._test_created = []
        model, run = _stored(st, False, edges=False)
        paths = export_run(st, model, run, None, tmp_path / "out", fmt)
        assert [p.suffix for p in paths] == [f".{fmt}", f".{fmt}"]
        edges_file = next(p for p in paths if "_edges" in p.name)
        got = pd.read_parquet(edges_file) if fmt == "parquet" else pd.read_csv(edges_file)
        want = ref_edges_frame(st, model, run)
        assert len(got) == 0 and list(got.columns) == list(want.columns)


def test_a_failed_export_leaves_no_edge_file_and_releases_the_store(tmp_path, monkeypatch):
    """A write that fails half way (here: the third slice) leaves neither edge file, and the
    store's read is released, so the store can be written to at once."""
    with DuckDBStore(str(tmp_path / "s.duckdb")) as st:
        st._test_created = []
        model, run = _stored(st, False)
        def failing(n, part):
            if n == 2:
                raise OSError(28, "No space left on device")
            return part

        _wrap_slices(st, monkeypatch, 5, failing)
        with pytest.raises(ValidationError, match="No space left on device"):
            export_run(st, model, run, None, tmp_path / "out", "both")
        left = sorted(p.name for p in (tmp_path / "out").iterdir())
        assert left == sorted(f"{run.run_id}_nodes.{x}" for x in ("parquet", "csv"))  # no edge file, no temporary
        monkeypatch.undo()
        st.delete_model(model.model_id)  # the file is not held for reading any more


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (a device whose writes fail: disk full)")
@pytest.mark.parametrize("full", ["csv", "parquet"])
def test_a_full_disk_names_the_file_that_failed(tmp_path, full):
    """``--format both`` on a disk that fills while one of the two edge files is written: the
    one-line error names that file (not the other), and neither edge file is left."""
    with DuckDBStore(str(tmp_path / "s.duckdb")) as st:
        st._test_created = []
        model, run = _stored(st, False)
        out = tmp_path / "out"
        out.mkdir()
        (out / f".{run.run_id}_edges.{full}.tmp").symlink_to("/dev/full")
        with pytest.raises(ValidationError) as err:
            export_run(st, model, run, None, out, "both")
        msg = str(err.value)
        assert "\n" not in msg and "No space left on device" in msg
        assert f"{run.run_id}_edges.{full} " in msg  # the file that failed, by its final name
        assert not any("_edges" in p.name for p in out.iterdir())  # no edge file, no temporary


def test_write_files_renames_all_or_nothing(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"

    def half(tmps):
        tmps[0].write_text("a")
        raise OSError(13, "Permission denied", str(tmps[1]))

    with pytest.raises(ValidationError, match=r"Cannot write .*b\.txt \(Permission denied\)"):
        write_files([a, b], half)
    assert list(tmp_path.iterdir()) == []
    assert write_files([a, b], lambda tmps: [t.write_text(t.name) for t in tmps]) == [a, b]
    assert a.read_text() == ".a.txt.tmp" and b.read_text() == ".b.txt.tmp"


# -- push / pull ----------------------------------------------------------------------------
@pytest.mark.parametrize("dag", [False, True], ids=["chain", "dag"])
def test_copy_reads_the_source_in_slices_and_writes_the_same_run(read_store, tmp_path, monkeypatch, dag):
    model, run = _stored(read_store, dag)
    want = _Unpatched(read_store).get_edges(run.run_id)
    calls = _refuse_whole_table(read_store, monkeypatch, 6)
    with DuckDBStore(str(tmp_path / "dst.duckdb")) as dst:
        summary = copy_models(read_store, dst, [model.model_id])
        assert summary.runs_copied == 1
        assert len(calls) > 1 and max(calls) <= 6 and sum(calls) == len(want)
        _same_frame(dst.get_edges(run.run_id), want)
        assert dst.get_run(run.run_id).run_id == run.run_id
        again = copy_models(read_store, dst, [model.model_id])  # idempotent: the run is skipped
        assert again.runs_skipped == 1 and again.runs_copied == 0


def test_a_run_without_edges_is_copied(tmp_path):
    with DuckDBStore(str(tmp_path / "a.duckdb")) as src, DuckDBStore(str(tmp_path / "b.duckdb")) as dst:
        src._test_created = []
        model, run = _stored(src, False, edges=False)
        copy_models(src, dst)
        assert len(dst.get_edges(run.run_id)) == 0 and dst.get_run(run.run_id).run_id == run.run_id


def test_a_copy_refused_half_way_leaves_nothing_of_the_run(tmp_path, monkeypatch):
    """The target refuses the second slice: nothing of the run is in the target, the copy says
    why in one line, and the source can be written to at once (its read was released)."""
    with DuckDBStore(str(tmp_path / "a.duckdb")) as src, DuckDBStore(str(tmp_path / "b.duckdb")) as dst:
        src._test_created = []
        model, run = _stored(src, False)
        _wrap_slices(src, monkeypatch, 5, lambda n, part: part.assign(dst_layer=part["dst_layer"] + 5) if n == 1 else part)
        with pytest.raises(ValidationError, match="do not go from layer l to layer l"):
            copy_models(src, dst)
        with pytest.raises(NotFoundError):
            dst.get_run(run.run_id)
        assert dst.list_runs() == []
        monkeypatch.undo()
        src.delete_model(model.model_id)  # the source file is not held for reading any more


def test_the_cli_exports_through_the_streamed_path(tmp_path, monkeypatch):
    """`nifgraph export` end to end with get_edges refused on the store class."""
    import json

    from .conftest import invoke, train_iris

    mid = train_iris()
    assert invoke("estimate", mid, "--estimator", "gcmi", "--json").exit_code == 0

    def refuse(self, run_id):
        raise AssertionError("export read the whole edge table (get_edges)")

    monkeypatch.setattr(DuckDBStore, "get_edges", refuse)
    res = invoke("export", mid, "--out", str(tmp_path / "exp"), "--json")
    assert res.exit_code == 0, res.output
    files = [Path(f) for f in json.loads(res.stdout)]
    edges = pd.read_parquet(next(f for f in files if f.name.endswith("edges.parquet")))
    assert len(edges) == 4 * 5 + 5 * 3 and (edges["value"] >= 0).all()

"""One conformance suite, run unchanged against every store (DuckDB always; Neo4j when
NEO4J_URI is set). It pins the contract of :class:`nifgraph.store.base.Store`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nifgraph.errors import NotFoundError
from nifgraph.records import (
    ATTRIBUTION_COLUMNS,
    EDGE_COLUMNS,
    NEURON_COLUMNS,
    NEURON_METRIC_COLUMNS,
)

from .store_fixtures import (
    assert_same_bits,
    make_analysis,
    make_dag_model,
    make_edges,
    make_model,
    make_run,
)


def _put_model(store, **kw):
    model, neurons = make_model(**kw)
    store._test_created.append(model.model_id)
    store.put_model(model, neurons)
    return model, neurons


def test_model_roundtrip(store):
    model, neurons = _put_model(store)
    got = store.get_model(model.model_id)
    assert got == model
    assert got.meta == model.meta
    nb = store.get_neurons(model.model_id)
    assert list(nb.columns) == list(NEURON_COLUMNS)
    pd.testing.assert_frame_equal(
        nb.reset_index(drop=True),
        neurons.sort_values(["layer", "idx"]).reset_index(drop=True)[list(NEURON_COLUMNS)],
        check_dtype=False,
    )


def test_run_and_edges_roundtrip(store):
    model, _ = _put_model(store)
    run, edges = make_run(model)
    store.put_run(run, edges)
    got = store.get_run(run.run_id)
    assert got == run and got.settings == run.settings
    e = store.get_edges(run.run_id)
    assert list(e.columns) == list(EDGE_COLUMNS)
    assert len(e) == len(edges)
    exp = edges.sort_values(["src_layer", "src_idx", "dst_idx"]).reset_index(drop=True)
    np.testing.assert_allclose(e["value"].to_numpy(), exp["value"].to_numpy(), rtol=0, atol=1e-12)
    assert e["cost"].isna().sum() == exp["cost"].isna().sum()
    assert e["p_value"].isna().all()
    assert [r.run_id for r in store.list_runs(model.model_id)] == [run.run_id]
    assert store.latest_run(model.model_id).run_id == run.run_id


def test_analysis_roundtrip_and_replace(store):
    model, _ = _put_model(store)
    run, edges = make_run(model)
    store.put_run(run, edges)
    assert store.get_analysis(run.run_id) is None
    a = make_analysis(model, run)
    store.put_analysis(a)
    got = store.get_analysis(run.run_id)
    assert got == a
    assert list(got.neuron_metrics.columns) == list(NEURON_METRIC_COLUMNS)
    assert list(got.attribution.columns) == list(ATTRIBUTION_COLUMNS)
    assert got.prunable == [(1, 0)]
    m = got.neuron_metrics.set_index(["layer", "idx"])  # the pruning decision round-trips
    assert m["candidate"].tolist().count(True) == 2 and m.loc[(1, 1), "candidate"] and not m.loc[(1, 1), "prunable"]
    assert m.loc[(1, 0), "accuracy_drop"] == 0.0 and m.loc[(1, 1), "accuracy_drop"] == 0.25
    assert m["accuracy_drop"].isna().sum() == len(m) - 2
    np.testing.assert_allclose(
        got.attribution.sort_values(["feature_idx", "class_idx"])["value"].to_numpy(),
        a.attribution.sort_values(["feature_idx", "class_idx"])["value"].to_numpy(),
    )
    # a second analysis of the same run replaces the first
    from dataclasses import replace

    store.put_analysis(replace(a, gamma=2.0, modularity=0.5))
    got2 = store.get_analysis(run.run_id)
    assert got2.gamma == 2.0 and got2.modularity == 0.5
    assert len(got2.neuron_metrics) == sum(model.layer_sizes)


def test_many_models_side_by_side(store):
    m1, _ = _put_model(store, sizes=(4, 3, 2), name="a")
    m2, _ = _put_model(store, sizes=(4, 5, 5, 2), name="b")
    r1, e1 = make_run(m1, seed=1)
    r2, e2 = make_run(m2, seed=2)
    r3, e3 = make_run(m2, seed=3)
    for r, e in [(r1, e1), (r2, e2), (r3, e3)]:
        store.put_run(r, e)
    ids = {m.model_id for m in store.list_models()}
    assert {m1.model_id, m2.model_id} <= ids
    assert len(store.get_neurons(m2.model_id)) == 4 + 5 + 5 + 2
    assert len(store.get_edges(r1.run_id)) == 4 * 3 + 3 * 2
    assert len(store.get_edges(r2.run_id)) == 4 * 5 + 5 * 5 + 5 * 2
    assert [r.run_id for r in store.list_runs(m2.model_id)] == [r2.run_id, r3.run_id]


def test_rewrite_is_idempotent(store):
    model, neurons = _put_model(store)
    store.put_model(model, neurons)  # same model again
    run, edges = make_run(model)
    store.put_run(run, edges)
    store.put_run(run, edges)  # same run again
    assert len(store.get_neurons(model.model_id)) == sum(model.layer_sizes)
    assert len(store.get_edges(run.run_id)) == len(edges)
    assert [r.run_id for r in store.list_runs(model.model_id)] == [run.run_id]
    assert sum(m.model_id == model.model_id for m in store.list_models()) == 1


def test_interrupted_run_write_leaves_nothing(store, monkeypatch):
    model, _ = _put_model(store)
    run, edges = make_run(model)
    big = pd.concat([edges] * 1, ignore_index=True)
    monkeypatch.setattr(store, "batch_size", 5)
    calls = {"n": 0}

    def boom(table, rows):
        calls["n"] += 1
        if calls["n"] >= 2:
            raise RuntimeError("simulated crash mid-write")

    monkeypatch.setattr(store, "_after_batch", boom)
    with pytest.raises(Exception, match="simulated crash"):
        store.put_run(run, big)
    monkeypatch.undo()
    assert calls["n"] >= 2
    assert store.list_runs(model.model_id) == []
    with pytest.raises(NotFoundError):
        store.get_run(run.run_id)
    with pytest.raises(NotFoundError):
        store.get_edges(run.run_id)
    # and a retry after the crash succeeds cleanly
    store.put_run(run, edges)
    assert len(store.get_edges(run.run_id)) == len(edges)


def test_interrupted_analysis_write_keeps_previous(store, monkeypatch):
    model, _ = _put_model(store)
    run, edges = make_run(model)
    store.put_run(run, edges)
    a = make_analysis(model, run)
    store.put_analysis(a)
    from dataclasses import replace

    monkeypatch.setattr(store, "batch_size", 3)

    def boom(table, rows):
        raise RuntimeError("simulated crash mid-write")

    monkeypatch.setattr(store, "_after_batch", boom)
    with pytest.raises(Exception, match="simulated crash"):
        store.put_analysis(replace(a, gamma=3.0))
    monkeypatch.undo()
    got = store.get_analysis(run.run_id)
    assert got.gamma == 1.0
    assert len(got.neuron_metrics) == sum(model.layer_sizes)


def test_missing_ids_are_clear_errors(store):
    with pytest.raises(NotFoundError, match="nifgraph models"):
        store.get_model("m-doesnotexist")
    with pytest.raises(NotFoundError):
        store.get_run("r-doesnotexist")
    with pytest.raises(NotFoundError):
        store.get_edges("r-doesnotexist")
    with pytest.raises(NotFoundError):
        store.get_neurons("m-doesnotexist")
    with pytest.raises(NotFoundError):
        store.delete_model("m-doesnotexist")
    model, _ = make_model()
    run, edges = make_run(model)
    with pytest.raises(NotFoundError):
        store.put_run(run, edges)  # model not stored


def test_delete_model_removes_runs(store):
    model, _ = _put_model(store)
    run, edges = make_run(model)
    store.put_run(run, edges)
    store.put_analysis(make_analysis(model, run))
    store.delete_model(model.model_id)
    store._test_created.remove(model.model_id)
    assert model.model_id not in {m.model_id for m in store.list_models()}
    with pytest.raises(NotFoundError):
        store.get_run(run.run_id)


def test_resolve(store):
    model, _ = _put_model(store)
    m, r = store.resolve(model.model_id)
    assert m.model_id == model.model_id and r is None
    run, edges = make_run(model)
    store.put_run(run, edges)
    m, r = store.resolve(run.run_id)
    assert r.run_id == run.run_id
    m, r = store.resolve(model.model_id)
    assert r.run_id == run.run_id


def test_checkpoint_lives_in_the_store(store):
    """The checkpoint goes in and out with its model, byte for byte, is replaced by a rewrite
    without one and leaves with the model."""
    model, neurons = make_model()
    store._test_created.append(model.model_id)
    blob = bytes(range(256)) * 40  # every byte value, 10 KB
    store.put_model(model, neurons, blob)
    assert store.get_checkpoint(model.model_id) == blob
    assert store.checkpoint_of(model) == blob
    store.put_model(model, neurons)  # a rewrite without a checkpoint has none
    assert store.get_checkpoint(model.model_id) is None
    store.put_model(model, neurons, b"\x00v2")
    store.delete_model(model.model_id)
    with pytest.raises(NotFoundError):
        store.get_checkpoint(model.model_id)


def test_model_with_run_is_one_unit(store, monkeypatch):
    """A failure while the run's edges are written leaves neither the model nor the run."""
    model, neurons = make_model()
    store._test_created.append(model.model_id)
    run, edges = make_run(model)
    monkeypatch.setattr(store, "batch_size", 5)

    def boom(table, rows):
        if table == "edges":
            raise RuntimeError("simulated crash mid-write")

    monkeypatch.setattr(store, "_after_batch", boom)
    with pytest.raises(Exception, match="simulated crash"):
        store.put_model_with_run(model, neurons, b"ckpt", run, edges)
    monkeypatch.undo()
    assert model.model_id not in [m.model_id for m in store.list_models()]
    store.put_model_with_run(model, neurons, b"ckpt", run, edges)
    assert store.get_checkpoint(model.model_id) == b"ckpt"
    assert len(store.get_edges(run.run_id)) == len(edges)


# -- a run read back in slices (Store.iter_edges, issue #14) ----------------------------------
# These run on DuckDB, on the Neo4j store against the in-memory stand-in of the server
# (tests.fakes.GraphRunner) and on a Neo4j server when NEO4J_URI is set (``read_store``).
def _stored_run(store, dag=False, null=True, seed=0):
    model, neurons = (make_dag_model if dag else make_model)(**({} if dag else {"sizes": (4, 5, 3)}))
    store._test_created.append(model.model_id)
    store.put_model(model, neurons)
    run, edges = make_edges(model, seed=seed, null=null)
    store.put_run(run, edges)
    return model, run, edges


@pytest.mark.parametrize("dag", [False, True], ids=["chain", "dag"])
@pytest.mark.parametrize("batch_rows", [1, 2, 7, 16, 1000])
def test_iter_edges_is_get_edges_in_slices(read_store, dag, batch_rows):
    """Joined, the slices are get_edges bit for bit, in its order; each slice has 1..batch_rows
    edges and the dtypes of EDGE_COLUMNS."""
    _, run, edges = _stored_run(read_store, dag=dag)
    want = read_store.get_edges(run.run_id)
    assert len(want) == len(edges)
    key = want[["src_layer", "src_idx", "dst_idx", "dst_layer"]].to_numpy()
    assert (np.diff(key[:, 0] * 10**9 + key[:, 1] * 10**6 + key[:, 2] * 10**3 + key[:, 3]) > 0).all()  # the order
    parts = list(read_store.iter_edges(run.run_id, batch_rows=batch_rows))
    assert parts and all(0 < len(p) <= batch_rows for p in parts)
    for p in parts:
        assert [str(t) for t in p.dtypes] == [str(t) for t in want.dtypes]
        assert list(p.index) == list(range(len(p)))
    assert_same_bits(pd.concat(parts, ignore_index=True), want)
    if batch_rows >= len(want):  # the most the page plan makes of a small run: one page a source layer
        assert len(parts) <= len({la for la in want["src_layer"]})


@pytest.mark.parametrize(
    "columns",
    [("src_layer", "src_idx", "dst_layer", "dst_idx", "value", "q_value"), ("q_value", "src_idx"), ("cost", "p_value"),
     ("run_id",), ("ci_high", "run_id", "relevance", "redundancy", "ci_low", "value_norm"), "value"],
)
def test_iter_edges_reads_only_the_columns_asked_for(read_store, columns):
    _, run, _ = _stored_run(read_store, dag=True)
    names = [columns] if isinstance(columns, str) else list(columns)
    want = read_store.get_edges(run.run_id)[names]
    parts = list(read_store.iter_edges(run.run_id, columns, batch_rows=5))
    assert all(list(p.columns) == names and 0 < len(p) <= 5 for p in parts)
    assert_same_bits(pd.concat(parts, ignore_index=True), want)


def test_iter_edges_of_a_run_without_a_null(read_store):
    """NaN statistics (no permutation null) come back as NaN; Neo4j rebuilds its default columns."""
    _, run, _ = _stored_run(read_store, null=False)
    want = read_store.get_edges(run.run_id)
    assert want["q_value"].isna().all() and want["p_value"].isna().all()
    assert_same_bits(pd.concat(read_store.iter_edges(run.run_id, batch_rows=3), ignore_index=True), want)


def test_iter_edges_bad_input_and_missing_runs_are_one_line_errors(read_store):
    from nifgraph.errors import ValidationError

    _, run, _ = _stored_run(read_store)
    for columns, needle in [
        (("value", "nope"), "Unknown edge column 'nope'"),
        (("value; DROP TABLE edges",), "Unknown edge column"),
        (("value", "value"), "asked for twice"),
        ((), "No edge column"),
        ((1,), "Unknown edge column"),
    ]:
        with pytest.raises(ValidationError, match=needle) as err:
            read_store.iter_edges(run.run_id, columns)  # at the call, before any slice is asked for
        assert "\n" not in str(err.value)
    for rows in (0, -1, 2.5, True, "5"):
        with pytest.raises(ValidationError, match="batch_rows") as err:
            read_store.iter_edges(run.run_id, batch_rows=rows)
        assert "\n" not in str(err.value)
    with pytest.raises(NotFoundError) as want:
        read_store.get_edges("r-doesnotexist")
    with pytest.raises(NotFoundError) as got:
        read_store.iter_edges("r-doesnotexist")
    assert str(got.value) == str(want.value) and "\n" not in str(got.value)
    # a run being written is not complete: the same error until it commits
    model = read_store.get_model(run.model_id)
    run2, edges2 = make_edges(model, seed=1)
    with read_store.run_writer(run2) as w:
        w.add(edges2)
        with pytest.raises(NotFoundError) as got:
            read_store.iter_edges(run2.run_id, ("value",))
        with pytest.raises(NotFoundError) as want:
            read_store.get_edges(run2.run_id)
        assert str(got.value) == str(want.value)
    assert sum(len(p) for p in read_store.iter_edges(run2.run_id, ("value",))) == len(edges2)


def test_iter_edges_of_a_run_without_edges_yields_nothing(read_store):
    model, neurons = make_model()
    read_store._test_created.append(model.model_id)
    read_store.put_model(model, neurons)
    run, edges = make_run(model)
    read_store.put_run(run, edges.iloc[:0])
    assert len(read_store.get_edges(run.run_id)) == 0
    assert list(read_store.iter_edges(run.run_id)) == []


def test_iter_edges_refuses_a_run_that_changed_between_pages(read_store):
    """Neo4j reads a page per transaction: a run deleted (or written again) after the first page
    ends the read with a StoreError, never slices of two versions. DuckDB holds the file for
    reading until the last slice: no other process can change it meanwhile."""
    from nifgraph.errors import StoreError
    from nifgraph.store.duckdb import DuckDBStore

    if isinstance(read_store, DuckDBStore):
        pytest.skip("one read session across the pages: nothing changes the file meanwhile")
    model, run, _ = _stored_run(read_store)
    it = read_store.iter_edges(run.run_id, ("value",), batch_rows=5)
    first = next(it)
    assert len(first) == 5
    read_store.delete_model(model.model_id)
    read_store._test_created.remove(model.model_id)
    with pytest.raises(StoreError, match="changed while its edges were read"):
        list(it)


@pytest.mark.parametrize("dag", [False, True], ids=["chain", "dag"])
@pytest.mark.parametrize("batch_rows", [1, 4, 9, 10, 11, 64, 10**6])
def test_the_pages_of_iter_edges_are_bounded_and_cover_every_edge(dag, batch_rows):
    """What a store reads at a time: whole source neurons, at most batch_rows edges a page (unless
    one neuron has more), each edge of a full run in exactly one page, layer by layer in order."""
    from nifgraph.store.base import edge_pages

    model, _ = make_dag_model() if dag else make_model(sizes=(4, 5, 3))
    _, edges = make_edges(model)
    pages = list(edge_pages(model, batch_rows))
    assert [p[0] for p in pages] == sorted(p[0] for p in pages)
    src = edges[["src_layer", "src_idx"]].to_numpy()
    hits = np.zeros(len(edges), dtype=int)
    fan = edges.groupby(["src_layer", "src_idx"]).size().max()
    for layer, lo, hi in pages:
        inside = (src[:, 0] == layer) & (src[:, 1] >= lo) & (src[:, 1] <= hi)
        hits += inside
        assert inside.sum() <= max(batch_rows, fan)
    assert (hits == 1).all()
    if batch_rows >= 10**6:
        assert len(pages) == len(set(edges["src_layer"]))  # one page a source layer


@pytest.mark.parametrize("with_nan", [False, True], ids=["numbers", "with-nan"])
def test_dicts_with_numpy_values_read_back_as_python_values(store, with_nan):
    """meta, run settings and analysis settings holding numpy scalars and arrays (what a caller
    of the Python API may pass) come back as the same JSON values from every store, not as
    their str()."""
    from dataclasses import replace

    extra = {"n": np.int64(3), "flag": np.bool_(True), "xs": np.array([1, 2]), "f": np.float32(0.5)}
    want = {"n": 3, "flag": True, "xs": [1, 2], "f": 0.5}
    if with_nan:  # a NaN anywhere took another path once
        extra, want = {**extra, "nan": float("nan")}, {**want, "nan": None}
    model, neurons = make_model()
    model = replace(model, meta={**model.meta, **extra})
    store._test_created.append(model.model_id)
    store.put_model(model, neurons)
    run, edges = make_run(model)
    run = replace(run, settings={**run.settings, **extra})
    store.put_run(run, edges)
    analysis = make_analysis(model, run)
    store.put_analysis(replace(analysis, settings={**analysis.settings, **extra}))
    got = [store.get_model(model.model_id).meta, store.get_run(run.run_id).settings,
           store.get_analysis(run.run_id).settings]
    for d in got:
        assert {k: d[k] for k in want} == want


def test_a_replaced_run_loses_the_analysis_of_its_old_edges(store):
    """Writing a run's id again with other edges replaces the run; its analysis was of the old
    edges, so no store keeps it (comparisons then ask for `nifgraph analyze` again)."""
    model, _ = _put_model(store)
    run, edges = make_run(model, seed=1)
    store.put_run(run, edges)
    store.put_analysis(make_analysis(model, run))
    assert store.get_analysis(run.run_id) is not None
    _, other = make_run(model, seed=2)
    store.put_run(run, other.assign(run_id=run.run_id))
    assert store.get_analysis(run.run_id) is None
    got = store.get_edges(run.run_id).sort_values(["src_layer", "src_idx", "dst_idx"])["value"].to_numpy()
    want = other.sort_values(["src_layer", "src_idx", "dst_idx"])["value"].to_numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    store.put_analysis(make_analysis(model, run))  # and it can be analysed again
    assert store.get_analysis(run.run_id) is not None


def test_runs_are_ordered_by_when_they_began_not_by_when_they_were_written(store):
    """Two overlapping estimates: the one begun later (created_at) finishes first. Every store
    calls the later-begun run the newest, whatever the write order (a copy between stores
    keeps created_at, not the write order)."""
    from dataclasses import replace

    model, _ = _put_model(store)
    early, e1 = make_run(model, seed=1)
    late, e2 = make_run(model, seed=2)
    early = replace(early, created_at="2026-01-01T00:00:00.000+00:00")
    late = replace(late, created_at="2026-01-02T00:00:00.000+00:00")
    store.put_run(late, e2)
    store.put_run(early, e1)
    assert [r.run_id for r in store.list_runs(model.model_id)] == [early.run_id, late.run_id]
    assert store.latest_run(model.model_id).run_id == late.run_id
    assert store.resolve(model.model_id)[1].run_id == late.run_id


def test_a_neuron_table_that_does_not_fit_its_model_is_refused_and_nothing_is_stored(store):
    from nifgraph.errors import ValidationError

    model, neurons = make_model()
    store._test_created.append(model.model_id)
    with pytest.raises(ValidationError, match="9 neurons but 7 neuron rows"):
        store.put_model(model, neurons.iloc[:-2])
    with pytest.raises(ValidationError, match="model_id"):
        store.put_model(model, neurons.assign(model_id="m-other"))
    with pytest.raises(NotFoundError):
        store.get_model(model.model_id)


def test_models_created_in_the_same_millisecond_are_ordered_alike_everywhere(store):
    """created_at, then model_id: the same order in every store (and after a copy), so `latest`
    names the same model whichever store is read."""
    from dataclasses import replace

    when = "2026-01-01T00:00:00.000+00:00"
    made = []
    for prefix in ("m-ffff", "m-0000"):
        model, neurons = make_model()
        mid = prefix + model.model_id[6:]
        model = replace(model, model_id=mid, created_at=when)
        store._test_created.append(mid)
        store.put_model(model, neurons.assign(model_id=mid))
        made.append(mid)
    listed = [m.model_id for m in store.list_models() if m.created_at == when and m.model_id in made]
    assert listed == sorted(made)


def test_an_analysis_naming_neurons_the_model_lacks_is_refused(store):
    """A metrics row or an attribution entry outside the model: refused in one line by every
    store (one kept it, the other dropped it silently), and the stored analysis stays."""
    from dataclasses import replace

    from nifgraph.errors import ValidationError

    model, _ = _put_model(store)
    run, edges = make_run(model)
    store.put_run(run, edges)
    good = make_analysis(model, run)
    store.put_analysis(good)
    extra_row = good.neuron_metrics.iloc[[0]].assign(layer=1, idx=7)
    with pytest.raises(ValidationError, match=r"neuron \(layer 1, idx 7\), which model .* does not have"):
        store.put_analysis(replace(good, modularity=0.9, neuron_metrics=pd.concat([good.neuron_metrics, extra_row])))
    extra_attr = good.attribution.iloc[[0]].assign(feature_idx=4)
    with pytest.raises(ValidationError, match="attributes feature 4 to class 0; model .* has 4 features and 2 classes"):
        store.put_analysis(replace(good, modularity=0.9, attribution=pd.concat([good.attribution, extra_attr])))
    assert store.get_analysis(run.run_id).modularity == good.modularity


def test_a_model_with_runs_keeps_its_layers(store):
    """Replacing a stored model by one of other layer sizes would orphan its runs' edges (one
    store deleted them, the other kept edges that no longer fit): refused while it has runs; the
    same layers, or a model without runs, may be replaced."""
    from dataclasses import replace

    from nifgraph.errors import ValidationError

    model, neurons = _put_model(store)
    store.put_model(replace(model, name="renamed"), neurons)  # same layers: a replacement
    run, edges = make_run(model)
    store.put_run(run, edges)
    wider, wider_neurons = make_model(sizes=(4, 5, 2))
    wider = replace(wider, model_id=model.model_id)
    with pytest.raises(ValidationError, match=r"stored as 4-3-2 with runs; a model of other layers \(4-5-2\)"):
        store.put_model(wider, wider_neurons.assign(model_id=model.model_id))
    assert store.get_model(model.model_id).layer_sizes == (4, 3, 2) and len(store.get_edges(run.run_id)) == len(edges)
    with pytest.raises(ValidationError, match="with runs"):
        store.put_model_with_run(wider, wider_neurons.assign(model_id=model.model_id), None, run, edges)
    assert store.get_model(model.model_id).name == "renamed"

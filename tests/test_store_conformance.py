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

from .store_fixtures import make_analysis, make_model, make_run


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

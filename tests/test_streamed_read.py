"""The analysis reads a run back in slices (issue #14, memory: nothing holds all edges twice):
``run_matrices`` / ``run_blocks`` fill the dense matrices from ``Store.iter_edges`` slice by slice,
the alpha rule applied per slice, and must give exactly what the frame-based code gave; no part
of the analysis reads the whole edge table (``get_edges``).

The reference is the code before this change, copied below verbatim: ``_significant_edges`` of
``nifgraph/analysis/__init__.py`` on ``store.get_edges``, then ``nif.matrices_from_edges`` or
``dag_flow.blocks_from_edges``. The store-parametrised tests run on DuckDB, on the Neo4j store
against the in-memory stand-in of the server (``fakes.GraphRunner``) and on a server when
NEO4J_URI is set (``read_store``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nifgraph.analysis import compute, run_blocks, run_matrices
from nifgraph.errors import ValidationError
from nifgraph.settings import AnalysisSettings

from .store_fixtures import make_analysis, make_dag_model, make_edges, make_model


# -- the reference: the frame-based code this replaces, verbatim --------------------------
def ref_significant_edges(store, run, alpha):
    edges = store.get_edges(run.run_id)  # (the one change: get_edges is the store's own, not patched)
    if alpha is not None:
        q = edges["q_value"]
        if q.isna().all():
            raise ValidationError(
                f"Run {run.run_id} has no significance values; estimate with --null to use --alpha."
            )
        edges = edges.assign(value=np.where(q.to_numpy() <= alpha, edges["value"].to_numpy(), 0.0))
    return edges


def ref_matrices_from_edges(edges, sizes, column="value"):
    mats = [np.zeros((sizes[l], sizes[l + 1])) for l in range(len(sizes) - 1)]  # noqa: E741
    if len(edges) == 0:
        return mats
    src_l = edges["src_layer"].to_numpy()
    vals = edges[column].to_numpy(dtype=np.float64)
    for l in range(len(mats)):  # noqa: E741
        sel = src_l == l
        mats[l][edges["src_idx"].to_numpy()[sel], edges["dst_idx"].to_numpy()[sel]] = vals[sel]
    return mats


def ref_blocks_from_edges(edges, sizes, column="value"):
    blocks = {}
    for (a, b), part in edges.groupby(["src_layer", "dst_layer"], sort=True):
        m = np.zeros((int(sizes[int(a)]), int(sizes[int(b)])))
        m[part["src_idx"].to_numpy(dtype=int), part["dst_idx"].to_numpy(dtype=int)] = part[column].to_numpy(dtype=float)
        blocks[(int(a), int(b))] = m
    return blocks


def ref_nif(store, run, model, alpha):
    """What run_matrices / run_blocks returned before (read with the store class's get_edges)."""
    edges = ref_significant_edges(_Unpatched(store), run, alpha)
    sizes = tuple(int(s) for s in model.layer_sizes)
    return ref_blocks_from_edges(edges, sizes) if model.is_dag else ref_matrices_from_edges(edges, sizes, "value")


class _Unpatched:
    """``store`` with the get_edges of its class, whatever a test patched on it."""

    def __init__(self, store):
        self.store = store

    def get_edges(self, run_id):
        return _GET_EDGES[type(self.store).__name__](self.store, run_id)


def _get_edges_of_every_store():
    from nifgraph.store.duckdb import DuckDBStore
    from nifgraph.store.neo4j import Neo4jStore

    return {"DuckDBStore": DuckDBStore.get_edges, "Neo4jStore": Neo4jStore.get_edges}


_GET_EDGES = _get_edges_of_every_store()


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal shapes and every float bit for bit (NaN and signed zeros included)."""
    a, b = np.ascontiguousarray(a, dtype=np.float64), np.ascontiguousarray(b, dtype=np.float64)
    return a.shape == b.shape and np.array_equal(a.view(np.uint64), b.view(np.uint64))


def assert_same_nif(got, want) -> None:
    if isinstance(want, dict):
        assert list(got) == list(want)  # the same pairs, in the same (topological) order
        got, want = list(got.values()), list(want.values())
    assert len(got) == len(want)
    assert all(same_bits(g, w) for g, w in zip(got, want, strict=True))


# -- helpers ------------------------------------------------------------------------------
def _stored(store, dag, null=True, seed=0, missing_value=True):
    model, neurons = make_dag_model() if dag else make_model(sizes=(4, 5, 3))
    store._test_created.append(model.model_id)
    store.put_model(model, neurons)
    run, edges = make_edges(model, seed=seed, null=null, missing_value=missing_value)
    store.put_run(run, edges)
    return model, run


def _no_whole_table(store, monkeypatch):
    """Make ``get_edges`` fail on ``store``: whatever reads the whole table is caught."""

    def refuse(run_id):
        raise AssertionError("the analysis read the whole edge table (get_edges)")

    monkeypatch.setattr(store, "get_edges", refuse)


# -- the matrices -------------------------------------------------------------------------
@pytest.mark.parametrize("dag", [False, True], ids=["chain", "dag"])
@pytest.mark.parametrize("alpha", [None, 0.05, 0.5, 1.0])
@pytest.mark.parametrize("read_rows", [3, 17, None])
def test_streamed_matrices_equal_the_frame_based_ones(read_store, monkeypatch, dag, alpha, read_rows):
    model, run = _stored(read_store, dag)
    want = ref_nif(read_store, run, model, alpha)
    if read_rows is not None:  # slices that cut layer pairs and source neurons
        monkeypatch.setattr(read_store, "read_rows", read_rows)
    calls = []
    iter_edges = read_store.iter_edges

    def counting(*a, **kw):
        for part in iter_edges(*a, **kw):
            calls.append(len(part))
            yield part

    monkeypatch.setattr(read_store, "iter_edges", counting)
    _no_whole_table(read_store, monkeypatch)
    got = (run_blocks if dag else run_matrices)(read_store, run, model, alpha)
    assert_same_nif(got, want)
    assert sum(calls) == sum(m.size for m in (want.values() if dag else want))  # every pair is full
    if read_rows is not None:
        assert len(calls) > 1 and max(calls) <= read_rows
    if alpha is not None and alpha < 1:  # the rule zeroed edges
        plain = ref_nif(read_store, run, model, None)
        zeros = [int((m == 0).sum()) for m in (got.values() if dag else got)]
        assert sum(zeros) > sum(int((m == 0).sum()) for m in (plain.values() if dag else plain))


@pytest.mark.parametrize("dag", [False, True], ids=["chain", "dag"])
def test_alpha_on_a_run_without_q_values_is_the_same_error(read_store, monkeypatch, dag):
    model, run = _stored(read_store, dag, null=False)
    with pytest.raises(ValidationError) as want:
        ref_nif(read_store, run, model, 0.05)
    monkeypatch.setattr(read_store, "read_rows", 4)
    with pytest.raises(ValidationError) as got:
        (run_blocks if dag else run_matrices)(read_store, run, model, 0.05)
    assert str(got.value) == str(want.value) and "--null" in str(got.value)
    assert_same_nif((run_blocks if dag else run_matrices)(read_store, run, model), ref_nif(read_store, run, model, None))


@pytest.mark.parametrize("dag", [False, True], ids=["chain", "dag"])
@pytest.mark.parametrize("alpha", [None, 0.5])
def test_the_local_engine_never_reads_the_whole_table(read_store, monkeypatch, dag, alpha):
    """compute (the engine behind analyze, prune, the main job) on slices: the same metrics as
    the engines on the frame-based matrices."""
    from nifgraph.analysis.dag_flow import DagNif, analyze_dag
    from nifgraph.analysis.local import analyze

    model, run = _stored(read_store, dag, missing_value=False)  # the engines want finite values
    dead = read_store.get_neurons(model.model_id).sort_values(["layer", "idx"])["dead"].to_numpy(dtype=bool)
    settings = AnalysisSettings(engine="local", alpha=alpha, seed=0).resolved(True)  # the run has a null
    want_nif = ref_nif(read_store, run, model, settings.alpha)
    threshold = float(settings.threshold or 0.0)
    monkeypatch.setattr(read_store, "read_rows", 5)
    _no_whole_table(read_store, monkeypatch)
    got = compute(read_store, run.run_id, AnalysisSettings(engine="local", alpha=alpha, seed=0)).analysis
    if dag:
        sizes = tuple(int(s) for s in model.layer_sizes)
        want = analyze_dag(DagNif(sizes, want_nif), gamma=settings.gamma, threshold=threshold, seed=0, dead=dead)
        pairs = [(got.betweenness, want.betweenness), (got.membership, want.community),
                 (got.attribution, want.attribution), (got.in_flow, want.in_flow), (got.prunable, want.prunable)]
    else:
        want = analyze(want_nif, dead, gamma=settings.gamma, threshold=threshold, seed=0)
        pairs = [(got.betweenness, want.betweenness), (got.membership, want.membership),
                 (got.attribution, want.attribution), (got.in_flow, want.in_flow), (got.prunable, want.prunable)]
    for g, w in pairs:
        np.testing.assert_array_equal(np.asarray(g), np.asarray(w))
    assert got.modularity == want.modularity


@pytest.mark.parametrize("dag", [False, True], ids=["chain", "dag"])
def test_the_generic_comparison_reads_slices(tmp_path, monkeypatch, dag):
    """Store.summary_inputs (the path of every store but Neo4j, which asks its named queries):
    the flow concentration from slices, equal to the frame-based one."""
    from nifgraph.nif import flow_concentration
    from nifgraph.store.duckdb import DuckDBStore

    st = DuckDBStore(str(tmp_path / "s.duckdb"))
    st._test_created = []
    model, run = _stored(st, dag, missing_value=False)
    st.put_analysis(make_analysis(model, run))
    edges = st.get_edges(run.run_id)
    want = flow_concentration([edges["value"].to_numpy(dtype=float)] if dag
                              else ref_matrices_from_edges(edges, model.layer_sizes, "value"), 0.1)
    monkeypatch.setattr(st, "read_rows", 4)
    _no_whole_table(st, monkeypatch)
    (got,) = st.summary_inputs([model.model_id])
    assert got.flow_concentration == want and not np.isnan(want)


# -- end to end: the main job and a DAG model, with get_edges refused -----------------------
def test_the_main_job_never_reads_the_whole_table(tmp_path, monkeypatch):
    from nifgraph.data import load_dataset
    from nifgraph.network import TrainConfig
    from nifgraph.pipeline import run_main_job
    from nifgraph.settings import EstimationSettings
    from nifgraph.store.duckdb import DuckDBStore

    def refuse(self, run_id):
        raise AssertionError("the job read the whole edge table (get_edges)")

    monkeypatch.setattr(DuckDBStore, "get_edges", refuse)
    monkeypatch.setattr(DuckDBStore, "read_rows", 7)
    ds = load_dataset("iris", seed=0)
    with DuckDBStore(str(tmp_path / "s.duckdb")) as st:
        settings = EstimationSettings.build("gcmi", null=True, null_draws=100)
        res = run_main_job(st, ds, TrainConfig(hidden=(6, 5), epochs=5), settings, AnalysisSettings(seed=0, alpha=0.05))
        assert st.get_analysis(res.run.run_id) is not None
        assert_same_nif(run_matrices(st, res.run, res.model, 0.05), ref_nif(st, res.run, res.model, 0.05))


def test_a_dag_model_is_analysed_without_the_whole_table(tmp_path, monkeypatch):
    from nifgraph.pipeline import analyze_run, estimate_run
    from nifgraph.settings import EstimationSettings
    from nifgraph.significance import SignificanceSpec
    from nifgraph.store.duckdb import DuckDBStore

    from .handbuilt import ResidualCNN, import_residual_cnn

    with DuckDBStore(str(tmp_path / "s.duckdb")) as st:
        model = import_residual_cnn(st, tmp_path)
        run, _ = estimate_run(st, model.model_id, EstimationSettings(
            estimator="gcmi", significance=SignificanceSpec(null=True)))
        want = ref_nif(st, run, model, 0.05)
        monkeypatch.setattr(st, "read_rows", 4)
        _no_whole_table(st, monkeypatch)
        assert_same_nif(run_blocks(st, run, model, 0.05), want)
        rec = analyze_run(st, run.run_id, AnalysisSettings(alpha=0.05))
        assert set(rec.prunable) == ResidualCNN.PRUNABLE
        assert any(b > a + 1 for a, b in want)  # a skip pair, read too


def test_slices_joined_are_the_table_the_reference_reads(read_store):
    """The reference and the streamed path read the same rows: iter_edges(columns) joined is
    get_edges()[columns] (pinned in the conformance suite; here for the analysis' columns)."""
    from nifgraph.analysis import CHAIN_KEYS, DAG_KEYS

    for dag, keys in ((False, CHAIN_KEYS), (True, DAG_KEYS)):
        _, run = _stored(read_store, dag)
        cols = [*keys, "value", "q_value"]
        joined = pd.concat(read_store.iter_edges(run.run_id, cols, batch_rows=6), ignore_index=True)
        want = read_store.get_edges(run.run_id)[cols]
        assert all(same_bits(joined[c].to_numpy(dtype=float), want[c].to_numpy(dtype=float)) for c in cols)

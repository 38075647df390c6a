"""The GDS engine: same results as the local engine (betweenness and attribution to 1e-6,
modularity within 0.02), projections always dropped, local fallback without GDS.

Server tests need NEO4J_URI (and a server with Graph Data Science for the ``gds`` ones);
the fallback and clean-up logic is also checked here without a server, with fakes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nifgraph.errors import GdsMissingError, ValidationError
from nifgraph.nif import matrices_from_edges

from .store_fixtures import make_model, make_run


def analyze_run(store, run_id, *, gds=None, **settings):
    """The engine's result for a stored run (the dispatcher, nothing verified or stored)."""
    from nifgraph.analysis import compute
    from nifgraph.settings import AnalysisSettings

    return compute(store, run_id, AnalysisSettings(**settings), gds=gds)


def tie_run(model, seed=0):
    """A run full of ties: every layer pair has several edges equal to its maximum (cost 0 under
    the old ``-ln(value/top)``) and many input-to-output paths of exactly equal NIF product,
    plus a few zero edges. Equal-cost paths are where a Dijkstra that skips already-settled
    neurons (GDS on zero costs) loses counts."""
    run, edges = make_run(model, seed=seed)
    rng = np.random.default_rng(seed)
    v = np.where(rng.uniform(size=len(edges)) < 0.6, 1.0, 0.5)  # two levels: ties everywhere
    v[rng.uniform(size=len(edges)) < 0.1] = 0.0
    edges = edges.assign(value=v, relevance=v, value_norm=v,
                         cost=np.where(v > 0, -np.log(np.where(v > 0, v, 1.0)), np.nan))
    return run, edges


def projected_costs(edges, alpha=None):
    """Per kept edge, the cost ``cypher/gds/project_directed.cypher`` computes:
    1 - ln(value / max value of the edges leaving that source layer), zero edges dropped."""
    keep = edges["value"] > 0
    if alpha is not None:
        keep &= edges["q_value"] <= alpha
    e = edges[keep]
    top = e.groupby("src_layer")["value"].transform("max")
    return e.assign(gds_cost=1.0 - np.log(e["value"] / top))


def networkx_betweenness(edges, sizes):
    """Weighted betweenness on the projected costs, by networkx (the ground truth)."""
    import networkx as nx

    from nifgraph.analysis.local import layer_offsets

    off = layer_offsets(sizes)
    g = nx.DiGraph()
    g.add_nodes_from(range(int(off[-1])))
    for r in projected_costs(edges).itertuples():
        g.add_edge(int(off[r.src_layer] + r.src_idx), int(off[r.dst_layer] + r.dst_idx), cost=r.gds_cost)
    got = nx.betweenness_centrality(g, weight="cost", normalized=False)
    return np.array([got[i] for i in range(int(off[-1]))])


GDS_SKIP = "GDS tests need a Neo4j server with the Graph Data Science plugin (NEO4J_PLUGINS='[\"graph-data-science\"]')"


# -- no server needed -------------------------------------------------------------------
def test_engine_is_validated(tmp_path):
    from nifgraph.store.duckdb import DuckDBStore

    with DuckDBStore(str(tmp_path / "s.duckdb")) as st:
        model, neurons = make_model()
        st.put_model(model, neurons)
        run, edges = make_run(model)
        st.put_run(run, edges)
        with pytest.raises(ValidationError, match="engine"):
            analyze_run(st, run.run_id, engine="fast")
        with pytest.raises(GdsMissingError, match="--engine local"):
            analyze_run(st, run.run_id, engine="gds")
        res = analyze_run(st, run.run_id, engine="auto")
        assert res.engine == "local" and res.analysis.betweenness.shape == (9,)


class _FakeGraph:
    def __init__(self, name):
        self._name = name

    def name(self):
        return self._name


class _FakeProject:
    def __init__(self, gds):
        self.gds = gds

    def cypher(self, query, **params):
        assert "gds.graph.project($graph_name" in query
        self.gds.projected.append(params["graph_name"])
        return _FakeGraph(params["graph_name"]), None


class _FakeCatalog:
    def __init__(self, gds):
        self.gds = gds
        self.project = _FakeProject(gds)

    def drop(self, name, fail_if_missing=True):
        self.gds.dropped.append(name)


class _Boom:
    def stream(self, *a, **k):
        raise RuntimeError("algorithm failed")


class FakeGds:
    def __init__(self):
        self.projected: list[str] = []
        self.dropped: list[str] = []
        self.graph = _FakeCatalog(self)
        self.betweenness = _Boom()

    def close(self):
        pass


class _FakeNeoStore:
    """Answers the engine's reads for a (4, 3, 2) model without a server."""

    kind = "neo4j"
    uri = "bolt://fake"

    def __init__(self):
        self.model, _ = make_model()
        self.run, _ = make_run(self.model)

    def get_run(self, run_id):
        return self.run

    def get_model(self, model_id):
        return self.model

    def query(self, name, **params):
        if name == "gds/edge_summary":
            return [{"n_edges": 18, "n_kept": 16, "n_with_q": 0, "n_missing": 0}]
        if name == "gds/neuron_flows":
            return [{"layer": 0, "idx": 0, "role": "input", "dead": False, "in_flow": 0.0, "out_flow": 1.0, "max_in": 0.0, "max_out": 1.0}]
        if name == "gds/attribution_step":
            return []
        raise AssertionError(name)


def test_projections_are_dropped_when_an_algorithm_fails():

    store, gds = _FakeNeoStore(), FakeGds()
    with pytest.raises(RuntimeError, match="algorithm failed"):
        analyze_run(store, store.run.run_id, engine="gds", gds=gds)
    assert gds.projected and set(gds.projected) <= set(gds.dropped)
    assert any(name.endswith("-und") for name in gds.dropped)  # both names, even the unbuilt one


def test_alpha_needs_q_values():

    store = _FakeNeoStore()
    with pytest.raises(ValidationError, match="--null"):
        analyze_run(store, store.run.run_id, engine="gds", alpha=0.05, gds=FakeGds())



def test_an_old_gds_client_is_refused_with_the_fix(monkeypatch):
    """graphdatascience 1.x has project.cypher / camelCase settings with other meanings."""
    import graphdatascience

    from nifgraph.analysis.gds import _client_version, connect

    assert _client_version("2.2") == (2, 2) and _client_version("1.12") < (2, 0)
    assert _client_version("2.0a1") >= (2, 0)
    monkeypatch.setattr(graphdatascience, "__version__", "1.12")
    with pytest.raises(GdsMissingError, match="graphdatascience>=2.0"):
        connect(_FakeNeoStore())


# -- with a server --------------------------------------------------------------------
@pytest.fixture
def gds_store(neo):
    version, _ = neo.gds_version()
    if version is None:
        pytest.skip(GDS_SKIP)
    return neo


def _stored_run(store, sizes=(4, 6, 5, 3), seed=3, ties=False):
    model, neurons = make_model(sizes=sizes, name="gds")
    store._test_created.append(model.model_id)
    store.put_model(model, neurons)
    run, edges = (tie_run if ties else make_run)(model, seed=seed)
    store.put_run(run, edges)
    return model, run


def _leftover_graphs(store, run_id):
    names = store.run_cypher("CALL gds.graph.list() YIELD graphName RETURN graphName")
    return [n for n in names.get("graphName", pd.Series(dtype=str)) if run_id in n]


@pytest.mark.neo4j
def test_local_engine_on_a_neo4j_store(neo):

    _, run = _stored_run(neo)
    res = analyze_run(neo, run.run_id, engine="local")
    assert res.engine == "local"


@pytest.mark.neo4j
def test_without_gds_auto_falls_back_and_gds_refuses(neo):

    if neo.gds_version()[0] is not None:
        pytest.skip("this server has GDS; the fallback is checked on servers without it")
    _, run = _stored_run(neo)
    res = analyze_run(neo, run.run_id, engine="auto")
    assert res.engine == "local" and any("not installed" in n for n in res.notes)
    with pytest.raises(GdsMissingError, match="graph-data-science"):
        analyze_run(neo, run.run_id, engine="gds")


@pytest.mark.neo4j
@pytest.mark.gds
@pytest.mark.parametrize("ties", [False, True])
def test_gds_matches_the_local_engine(gds_store, ties):

    model, run = _stored_run(gds_store, ties=ties)
    res = analyze_run(gds_store, run.run_id, engine="gds", seed=0)
    assert res.engine == "gds"
    loc = analyze_run(gds_store, run.run_id, engine="local", seed=0).analysis
    g = res.analysis
    np.testing.assert_allclose(g.betweenness, loc.betweenness, atol=1e-6)
    np.testing.assert_allclose(g.attribution, loc.attribution, atol=1e-6, rtol=1e-9)
    np.testing.assert_allclose(g.in_flow, loc.in_flow, atol=1e-9)
    np.testing.assert_allclose(g.out_flow, loc.out_flow, atol=1e-9)
    np.testing.assert_array_equal(g.prunable, loc.prunable)
    assert abs(g.modularity - loc.modularity) <= 0.02
    assert any("Louvain" in n for n in res.notes)
    assert _leftover_graphs(gds_store, run.run_id) == []
    # the result plugs into the store like a local one
    frame = g.metrics_frame(model.layer_sizes)
    assert len(frame) == sum(model.layer_sizes)


@pytest.mark.neo4j
@pytest.mark.gds
def test_gamma_runs_leiden(gds_store):

    _, run = _stored_run(gds_store, seed=4)
    res = analyze_run(gds_store, run.run_id, engine="gds", gamma=1.5, seed=1)
    assert any("Leiden" in n for n in res.notes)
    assert np.isfinite(res.analysis.modularity)
    assert _leftover_graphs(gds_store, run.run_id) == []


@pytest.mark.neo4j
@pytest.mark.gds
def test_projection_dropped_when_an_algorithm_fails(gds_store):
    from nifgraph.analysis.gds import connect

    _, run = _stored_run(gds_store)
    real = connect(gds_store)

    class Failing:
        def __getattr__(self, name):
            if name == "betweenness":
                return _Boom()
            return getattr(real, name)

    try:
        with pytest.raises(RuntimeError, match="algorithm failed"):
            analyze_run(gds_store, run.run_id, engine="gds", gds=Failing())
        assert _leftover_graphs(gds_store, run.run_id) == []
    finally:
        real.close()


@pytest.mark.neo4j
@pytest.mark.gds
def test_memory_estimate(gds_store):
    from nifgraph.analysis.gds import estimate_memory

    est = estimate_memory(gds_store, 1_000, 100_000)
    assert est["betweenness"].get("bytes_max", 0) > 0, est


# -- the engine's glue, end to end against an in-memory stand-in for Neo4j + GDS ----------
class _MemDb:
    """Answers the engine's Cypher reads the way the .cypher files compute them."""

    kind = "neo4j"
    uri = "bolt://memory"

    def __init__(self, sizes=(4, 6, 5, 3), seed=3, ties=False, gds_version="2.13.0"):
        from nifgraph.analysis.local import layer_offsets

        self.model, neurons = make_model(sizes=sizes)
        self.run, edges = (tie_run if ties else make_run)(self.model, seed=seed)
        self.edges = edges.assign(q_value=float("nan"))
        self.version = gds_version
        self.free_heap = 2**40
        self.neurons = neurons
        self.off = layer_offsets(sizes)

    def get_run(self, run_id):
        return self.run

    def get_model(self, model_id):
        return self.model

    def get_edges(self, run_id):
        return self.edges

    def iter_edges(self, run_id, columns=None, batch_rows=5):
        e = self.edges[list(columns)] if columns else self.edges
        for start in range(0, len(e), batch_rows):
            yield e.iloc[start : start + batch_rows].reset_index(drop=True)

    def get_neurons(self, model_id):
        return self.neurons

    def gds_version(self):
        return self.version, None

    def _kept(self, alpha):
        e = self.edges
        keep = e["value"] > 0
        if alpha is not None:
            keep &= e["q_value"] <= alpha
        return e[keep]

    def query(self, name, **p):
        e = self.edges
        if name == "gds/edge_summary":
            return [{"n_edges": len(e), "n_kept": len(self._kept(p["alpha"])), "n_with_q": int(e["q_value"].notna().sum()),
                     "n_missing": int(e["value"].isna().sum())}]
        if name == "gds/neuron_flows":
            rows = []
            for r in self.neurons.itertuples():
                out_e = e[(e.src_layer == r.layer) & (e.src_idx == r.idx)]["value"]
                in_e = e[(e.dst_layer == r.layer) & (e.dst_idx == r.idx)]["value"]
                rows.append({"layer": r.layer, "idx": r.idx, "role": r.role, "dead": r.dead,
                             "in_flow": in_e.sum(), "out_flow": out_e.sum(),
                             "max_in": in_e.max() if len(in_e) else 0.0, "max_out": out_e.max() if len(out_e) else 0.0})
            return rows
        if name == "gds/attribution_step":
            k = self._kept(p["alpha"])
            k = k[k.src_layer == p["layer"]]
            acc: dict = {}
            for s in p["state"]:
                for r in k[k.src_idx == s["idx"]].itertuples():
                    key = (s["feature_idx"], r.dst_idx)
                    acc[key] = acc.get(key, 0.0) + s["score"] * r.value
            return [{"feature_idx": f, "idx": j, "score": v} for (f, j), v in acc.items()]
        if name == "gds/system_monitor":
            return [{"free_heap": self.free_heap, "max_heap": 2 * self.free_heap}]
        if name == "gds/community_strengths":
            mid = self.model.model_id
            acc: dict = {}
            for r in self._kept(p["alpha"]).itertuples():
                a = p["membership"][f"{mid}:{r.src_layer}:{r.src_idx}"]
                b = p["membership"][f"{mid}:{r.dst_layer}:{r.dst_idx}"]
                for c, w, inside in ((a, r.value, r.value if a == b else 0.0), (b, r.value, 0.0)):
                    s, i = acc.get(c, (0.0, 0.0))
                    acc[c] = (s + w, i + inside)
            return [{"community": c, "strength": s, "internal": i} for c, (s, i) in sorted(acc.items())]
        raise AssertionError(name)


class _MemGds:
    """GDS stand-in: projections keep GDS's own node ids (shuffled), algorithms run locally."""

    def __init__(self, db):
        import types

        self.db, self.graphs, self.dropped = db, {}, []
        rng = np.random.default_rng(7)
        n = int(db.off[-1])
        # flat node -> GDS node id: shuffled, and as large as a big database's node ids (an
        # array sized by the largest id would need petabytes)
        self.node_id = rng.permutation(n) * 7 + 10**15
        self.betweenness_calls: list[dict] = []
        self.estimated: list[str] = []
        gds = self

        class Project:
            def cypher(self, query, **params):
                gds.graphs[params["graph_name"]] = params
                return _FakeGraph(params["graph_name"]), None

        class Catalog:
            project = Project()
            node_properties = types.SimpleNamespace(stream=gds._props)

            def drop(self, name, fail_if_missing=True):
                gds.dropped.append(name)
                gds.graphs.pop(name, None)

        self.graph = Catalog()
        self.betweenness = types.SimpleNamespace(stream=self._betweenness, estimate=self._estimate("betweenness"))
        self.louvain = types.SimpleNamespace(stream=self._communities, estimate=self._estimate("louvain"))
        self.leiden = types.SimpleNamespace(stream=self._communities, estimate=self._estimate("leiden"))

    def _mats(self):
        return matrices_from_edges(self.db.edges, self.db.model.layer_sizes)

    def _props(self, g, props):
        off = self.db.off
        flat = np.arange(int(off[-1]))
        layer = np.searchsorted(off, flat, side="right") - 1
        return pd.DataFrame({"nodeId": self.node_id[flat], "layer": layer, "idx": flat - off[layer]})

    def _estimate(self, algo):
        import types

        def estimate(config, relationship_weight_property):
            self.estimated.append(algo)
            need = 40 * int(config["relationshipCount"]) + 10**6  # some bytes per edge
            return types.SimpleNamespace(bytes_min=need, bytes_max=2 * need, required_memory=f"{need} Bytes")

        return estimate

    def _betweenness(self, g, relationship_weight_property, **kw):
        # GDS's betweenness on the projection's cost, with networkx as the stand-in
        assert relationship_weight_property == "cost"
        self.betweenness_calls.append(kw)
        scores = networkx_betweenness(self.db.edges, self.db.model.layer_sizes)
        return pd.DataFrame({"nodeId": self.node_id, "score": scores})

    def _communities(self, g, relationship_weight_property, concurrency, gamma=1.0, random_seed=0):
        from nifgraph.analysis.local import louvain

        assert relationship_weight_property == "value" and g.name().endswith("-und")
        membership, _ = louvain(self._mats(), resolution=gamma, seed=random_seed)
        return pd.DataFrame({"nodeId": self.node_id, "communityId": membership * 7 + 3})

    def close(self):
        pass


@pytest.mark.parametrize("gamma,ties", [(1.0, False), (1.5, False), (1.0, True), (1.5, True)])
def test_engine_glue_reproduces_the_local_engine(gamma, ties):
    """The GDS path (projected costs 1 - ln(value/top), betweenness by networkx on them, GDS
    node ids mapped back) against the local engine (igraph), with and without ties."""
    from nifgraph.analysis.local import analyze

    db = _MemDb(ties=ties)
    gds = _MemGds(db)
    res = analyze_run(db, db.run.run_id, engine="gds", gamma=gamma, seed=0, gds=gds)
    dead = db.neurons.sort_values(["layer", "idx"])["dead"].to_numpy(dtype=bool)
    loc = analyze(matrices_from_edges(db.edges, db.model.layer_sizes), dead, gamma=gamma, seed=0)
    g = res.analysis
    assert res.engine == "gds" and gds.graphs == {}  # every projection dropped
    np.testing.assert_allclose(g.betweenness, loc.betweenness, atol=1e-9)
    np.testing.assert_allclose(g.attribution, loc.attribution, rtol=1e-12)
    np.testing.assert_array_equal(g.membership, loc.membership)
    assert g.modularity == pytest.approx(loc.modularity, abs=1e-12)
    np.testing.assert_array_equal(g.prunable, loc.prunable)
    np.testing.assert_allclose(g.in_flow, loc.in_flow)
    assert ("Leiden" in " ".join(res.notes)) == (gamma != 1.0)


def test_the_gds_engine_refuses_a_run_with_nan_values_as_the_local_engine_does():
    """A failed estimate (NaN, stored as a missing property) would count as 0 in the database's
    sums; both engines refuse the run with the same fix."""
    from nifgraph.analysis.local import analyze

    db = _MemDb(ties=False)
    db.edges.loc[3, "value"] = np.nan
    with pytest.raises(ValidationError, match="NaN or infinite values: replace failed estimates by 0"):
        analyze(matrices_from_edges(db.edges, db.model.layer_sizes), np.zeros(sum(db.model.layer_sizes), bool))
    gds = _MemGds(db)
    with pytest.raises(ValidationError, match=f"Run {db.run.run_id} has 1 edges with no NIF value .*replace failed estimates by 0"):
        analyze_run(db, db.run.run_id, engine="gds", gds=gds)
    assert gds.graphs == {}  # refused before projecting


# -- ties, versions, memory, sampling (no server) ---------------------------------------
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("sizes", [(3, 4, 2), (4, 6, 5, 3), (2, 5, 5, 5, 2)])
def test_ties_local_betweenness_equals_networkx_on_the_projected_costs(sizes, seed):
    """The local engine (igraph on -ln(value_norm) + 1) and networkx on the costs the GDS
    projection computes (1 - ln(value/top)) agree exactly on runs full of equal-cost paths."""
    from nifgraph.analysis.local import betweenness

    model, _ = make_model(sizes=sizes)
    _, edges = tie_run(model, seed=seed)
    want = networkx_betweenness(edges, sizes)
    got = betweenness(matrices_from_edges(edges, sizes))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    assert want.sum() > 0


def test_projected_costs_are_positive_and_shift_the_local_cost_by_one():
    model, _ = make_model(sizes=(4, 6, 3))
    _, edges = tie_run(model)
    e = projected_costs(edges)
    assert (e["gds_cost"] >= 1.0).all() and (e["gds_cost"] == 1.0).sum() > len(e["src_layer"].unique())
    np.testing.assert_allclose(e["gds_cost"], e["cost"] + 1.0, rtol=0, atol=1e-12)


def test_an_unsupported_gds_server_is_refused_or_skipped_with_the_fix():
    from nifgraph.analysis.gds import connect, min_server_version, unsupported_server

    assert min_server_version() == "2.13.0"
    assert unsupported_server("2.13.0") is None and unsupported_server("2.20.1") is None
    assert unsupported_server(None) is None
    msg = unsupported_server("2.6.8")
    assert "2.6.8" in msg and "older than 2.13.0" in msg and "--engine local" in msg and "\n" not in msg
    db = _MemDb(gds_version="2.6.8")
    with pytest.raises(GdsMissingError, match="older than 2.13.0"):
        analyze_run(db, db.run.run_id, engine="gds")
    res = analyze_run(db, db.run.run_id, engine="auto")
    assert res.engine == "local" and any("older than 2.13.0" in n for n in res.notes)
    with pytest.raises(GdsMissingError, match="older than 2.13.0"):
        connect(db)


def test_db_status_reports_an_unsupported_gds():
    from .fakes import fake_neo4j_store

    answers = {
        "admin/components": lambda p: [{"name": "Neo4j Kernel", "version": "5.26.0", "edition": "community"}],
        "admin/gds_version": lambda p: [{"version": "2.6.8"}],
        "admin/counts": lambda p: [{"models": 0, "runs": 0, "incomplete_runs": 0}],
    }
    info = fake_neo4j_store(answers=answers).status()
    assert info["gds_version"] == "2.6.8" and info["gds_min_version"] == "2.13.0"
    assert "older than 2.13.0" in info["gds_problem"]
    answers["admin/gds_version"] = lambda p: [{"version": "2.13.4"}]
    assert fake_neo4j_store(answers=answers).status()["gds_problem"] is None


def test_a_run_too_big_for_the_heap_is_refused_before_projecting():
    db = _MemDb()
    gds = _MemGds(db)
    db.free_heap = 10_000  # far below the estimate
    with pytest.raises(GdsMissingError, match="NEO4J_HEAP") as err:
        analyze_run(db, db.run.run_id, engine="gds", gds=gds)
    assert "\n" not in str(err.value) and "--engine local" in str(err.value)
    assert gds.graphs == {} and not gds.betweenness_calls  # nothing projected, nothing ran
    assert set(gds.estimated) == {"betweenness", "louvain"}


def test_big_runs_sample_betweenness(monkeypatch):
    import nifgraph.analysis.gds as engine

    db = _MemDb()
    gds = _MemGds(db)
    res = analyze_run(db, db.run.run_id, engine="gds", gds=gds, seed=5)
    assert gds.betweenness_calls == [{}]  # small run: exact
    monkeypatch.setattr(engine, "SAMPLE_ABOVE_EDGES", 10)
    monkeypatch.setattr(engine, "SAMPLING_SIZE", 4)
    res = analyze_run(db, db.run.run_id, engine="gds", gds=gds, seed=5)
    assert gds.betweenness_calls[-1] == {"sampling_size": 4, "sampling_seed": 5}
    assert any("sampled from 4 of 18 source neurons" in n for n in res.notes)


def test_gds_node_ids_map_back_through_sorted_arrays():
    from nifgraph.analysis.gds import _to_flat
    from nifgraph.errors import StoreError

    off = np.array([0, 2, 5])
    props = pd.DataFrame({"nodeId": [10**15 + 9, 3, 10**12, 7, 10**18], "layer": [0, 0, 1, 1, 1], "idx": [0, 1, 0, 1, 2]})
    got = _to_flat(props, off, pd.Series([10**18, 3, 10**15 + 9, 7]))
    np.testing.assert_array_equal(got, [4, 1, 0, 3])
    with pytest.raises(StoreError, match="not in the projection"):
        _to_flat(props, off, [5])

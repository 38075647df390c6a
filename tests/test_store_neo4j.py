"""The Neo4j store beyond the shared conformance suite.

Fault tests (unreachable server) run everywhere; the rest needs a server: set NEO4J_URI
(and NEO4J_USER, NEO4J_PASSWORD)."""

from __future__ import annotations

import numpy as np
import pytest

from nifgraph.errors import StoreUnavailableError, ValidationError

from .conftest import NEO4J_SKIP, invoke, neo4j_env
from .store_fixtures import make_analysis, make_model, make_run, put_analysed_run, store_analysed


# -- no server needed -------------------------------------------------------------------
@pytest.mark.parametrize("uri", ["bolt://127.0.0.1:1", "neo4j://127.0.0.1:1"])
def test_unreachable_server_is_a_clear_error(uri):
    from nifgraph.store.neo4j import Neo4jStore

    store = Neo4jStore(uri, "neo4j", "whatever-password")
    with pytest.raises(StoreUnavailableError, match="not reachable.*docker compose up -d") as info:
        store.list_models()
    assert info.value.__cause__ is not None  # the driver error is chained
    assert "whatever-password" not in str(info.value)
    store.close()


def test_unreachable_server_from_the_cli_is_one_line(monkeypatch):
    from typer.testing import CliRunner

    from nifgraph.cli import app

    monkeypatch.setenv("NEO4J_PASSWORD", "secret-password")
    result = CliRunner().invoke(app, ["db", "status", "--store", "bolt://127.0.0.1:1"])
    assert result.exit_code == 1
    out = result.output.strip()
    assert out.startswith("StoreUnavailableError: ") and len(out.splitlines()) == 1
    assert "secret-password" not in out


def test_open_store_dispatches_neo4j_uris(monkeypatch):
    from nifgraph.store import open_store
    from nifgraph.store.neo4j import Neo4jStore

    monkeypatch.setenv("NEO4J_USER", "alice")
    monkeypatch.setenv("NEO4J_PASSWORD", "pw-12345678")
    monkeypatch.setenv("NEO4J_DATABASE", "nif")
    s = open_store("neo4j://example.invalid:7687")
    assert isinstance(s, Neo4jStore) and s.user == "alice" and s.database == "nif"
    assert "pw-12345678" not in repr(s)


def test_db_commands_refuse_a_duckdb_store(tmp_path):
    from typer.testing import CliRunner

    from nifgraph.cli import app

    result = CliRunner().invoke(app, ["db", "status", "--store", str(tmp_path / "x.duckdb")])
    assert result.exit_code == 1 and "needs a Neo4j store" in result.output


def test_push_pull_between_duckdb_stores(tmp_path):
    """copy_models through the Store interface (no server: DuckDB to DuckDB), idempotent."""
    from typer.testing import CliRunner

    from nifgraph.cli import app
    from nifgraph.store.duckdb import DuckDBStore

    a, b = str(tmp_path / "a.duckdb"), str(tmp_path / "b.duckdb")
    with DuckDBStore(a) as src:
        model, run = store_analysed(src)
        n_edges = len(src.get_edges(run.run_id))
    runner = CliRunner()
    for _ in range(2):  # twice: idempotent
        res = runner.invoke(app, ["push", model.model_id, "--store", a, "--to", b, "--json"])
        assert res.exit_code == 0, res.output
    with DuckDBStore(b) as dst:
        assert [m.model_id for m in dst.list_models()] == [model.model_id]
        assert len(dst.get_edges(run.run_id)) == n_edges > 0
        assert dst.get_analysis(run.run_id).prunable == [(1, 0)]
    c = str(tmp_path / "c.duckdb")
    res = runner.invoke(app, ["pull", "--all", "--from", b, "--store", c])
    assert res.exit_code == 0, res.output
    with DuckDBStore(c) as back:
        assert back.get_model(model.model_id) == model


# -- with a server --------------------------------------------------------------------
def _stored(neo, sizes=(4, 3, 2), seed=0, name="toy"):
    model, neurons = make_model(sizes=sizes, name=name)
    neo._test_created.append(model.model_id)
    neo.put_model(model, neurons)
    run, edges = make_run(model, seed=seed)
    neo.put_run(run, edges)
    analysis = make_analysis(model, run)
    neo.put_analysis(analysis)
    return model, run, edges, analysis


@pytest.mark.neo4j
def test_wrong_credentials_are_a_clear_error():
    env = neo4j_env()
    if env is None:
        pytest.skip(NEO4J_SKIP)
    from nifgraph.store.neo4j import Neo4jStore

    bad = Neo4jStore(env["uri"], env["user"], env["password"] + "-wrong")
    with pytest.raises(StoreUnavailableError, match="NEO4J_PASSWORD"):
        bad.list_models()
    bad.close()
    none = Neo4jStore(env["uri"], env["user"], "")
    with pytest.raises(StoreUnavailableError, match="wants a password and none was given; set NEO4J_PASSWORD"):
        none.list_models()
    none.close()


@pytest.mark.neo4j
def test_credentials_in_the_uri_are_used_and_never_shown(monkeypatch):
    """`bolt://user:password@host:port` (the other server of a push or pull) takes the place of
    NEO4J_USER / NEO4J_PASSWORD for that store; no message, nor the store's uri, shows it."""
    from urllib.parse import quote, urlsplit

    from nifgraph.store import open_store

    env = neo4j_env()
    if env is None:
        pytest.skip(NEO4J_SKIP)
    parts = urlsplit(env["uri"])
    with_creds = f"{parts.scheme}://{quote(env['user'])}:{quote(env['password'], safe='')}@{parts.netloc}"
    monkeypatch.setenv("NEO4J_PASSWORD", "not-the-password")
    st = open_store(with_creds)
    try:
        assert st.uri == env["uri"] and env["password"] not in st.uri
        st.list_models()  # connects with the URI's password
    finally:
        st.close()
    wrong = f"{parts.scheme}://{env['user']}:s3cret-wrong@{parts.netloc}"
    res = invoke("models", "--store", wrong)
    assert res.exit_code == 1 and "refused the credentials" in res.output and "s3cret" not in res.output, res.output


@pytest.mark.neo4j
def test_schema_and_status(neo):
    neo.init_schema()  # twice: idempotent
    info = neo.status()
    assert info["schema"]["ready"], info["schema"]
    assert info["server_version"] and info["edition"]
    assert info["gds_version"] is None or isinstance(info["gds_version"], str)


@pytest.mark.neo4j
def test_role_labels_and_bloom_properties(neo):
    model, run, _, analysis = _stored(neo)
    labels = neo.run_cypher(
        "MATCH (n:Neuron {model_id: $m}) RETURN labels(n) AS labels, n.layer AS layer, "
        "n.betweenness AS betweenness, n.community AS community, n.analysis_run_id AS run "
        "ORDER BY n.layer, n.idx",
        {"m": model.model_id},
    )
    roles = [sorted(set(lab) - {"Neuron"}) for lab in labels["labels"]]
    assert roles == [["Feature"]] * 4 + [["Hidden"]] * 3 + [["Class"]] * 2
    assert labels["run"].eq(run.run_id).all()
    np.testing.assert_allclose(labels["betweenness"], analysis.neuron_metrics["betweenness"])


@pytest.mark.neo4j
def test_read_only_cypher_refuses_writes(neo):
    with pytest.raises(ValidationError, match="--write"):
        neo.run_cypher("CREATE (:NifgraphProbe {x: 1})")
    assert neo.run_cypher("MATCH (p:NifgraphProbe) RETURN count(p) AS n")["n"][0] == 0
    try:
        neo.run_cypher("CREATE (:NifgraphProbe {x: $x})", {"x": 1}, write=True)
        assert neo.run_cypher("MATCH (p:NifgraphProbe) RETURN count(p) AS n")["n"][0] == 1
    finally:
        neo.run_cypher("MATCH (p:NifgraphProbe) DELETE p", write=True)


@pytest.mark.neo4j
def test_named_queries(neo):
    from nifgraph.analysis.local import path_strengths
    from nifgraph.nif import matrices_from_edges

    model, run, edges, analysis = _stored(neo, sizes=(4, 5, 3), name="named")
    mid = model.model_id
    pr = neo.run_named("prunable_neurons", {"model_id": mid})  # candidates, with the verdict
    assert list(zip(pr["layer"], pr["idx"], strict=True)) == [(1, 0), (1, 1)]
    assert pr["prunable"].tolist() == [True, False] and pr["accuracy_drop"].tolist() == [0.0, 0.25]
    central = neo.run_named("central_neurons", {"model_id": mid, "limit": 3})
    assert len(central) == 3 and central["betweenness"].is_monotonic_decreasing
    comm = neo.run_named("community_membership", {"model_id": mid})
    assert comm["size"].sum() == sum(model.layer_sizes)
    acc = neo.run_named("models_by_accuracy", {"limit": 1000})
    assert mid in set(acc["model_id"])
    frac = neo.run_named("models_by_prunable", {"limit": 1000})
    row = frac[frac["model_id"] == mid].iloc[0]
    assert row["prunable"] == 1 and row["hidden"] == 5
    cmp_ = neo.run_named("compare_attribution", {"model_a": mid, "model_b": mid})
    assert (cmp_["rank_a"] == cmp_["rank_b"]).all() and len(cmp_) == 4
    # strongest paths: the layer-by-layer max-product equals the brute-force best path
    mats = matrices_from_edges(edges, model.layer_sizes)
    paths = neo.run_named("strongest_paths", {"model_id": mid, "feature_idx": 1})
    for r in paths.itertuples():
        best = path_strengths(mats, 1, int(r.class_idx), top=1)
        assert list(r.path) == best[0][0] and list(r.path_layers) == list(range(len(model.layer_sizes)))
        assert r.strength == pytest.approx(best[0][1], rel=1e-9)


@pytest.mark.neo4j
def test_repair_removes_incomplete_runs(neo):
    from nifgraph.store.neo4j_records import now_ms as _now_ms
    from nifgraph.store.neo4j_records import run_props as _run_props

    model, neurons = make_model()
    neo._test_created.append(model.model_id)
    neo.put_model(model, neurons)
    run, edges = make_run(model)
    # simulate a crash after the run was begun and one batch written
    neo._write("store/begin_run", run=_run_props(run), seq=1, now_ms=_now_ms(), edge_layout=2)
    ids = [f"{model.model_id}:0:0", f"{model.model_id}:1:0"]
    cols = {"value": [0.5], "value_norm": [None], "q_value": [None]}
    block = {"src_layer": [0], "src_idx": [0], "dst_layer": [1], "dst_idx": [0]}
    neo._write("store/put_edges", run_id=run.run_id, seq=0, ids=ids, src=[0], dst=[1], cols=cols, block=block)
    assert neo.list_runs(model.model_id) == []
    assert neo.status()["incomplete_runs"] >= 1
    assert neo.repair() >= 1
    left = neo.run_cypher("MATCH ()-[e:NIF {run_id: $r}]->() RETURN count(e) AS n", {"r": run.run_id})
    assert left["n"][0] == 0
    left = neo.run_cypher("MATCH (c:NIFColumns {run_id: $r}) RETURN count(c) AS n", {"r": run.run_id})
    assert left["n"][0] == 0
    neo.put_run(run, edges)  # and the run can be written cleanly afterwards
    assert len(neo.get_edges(run.run_id)) == len(edges)


@pytest.mark.neo4j
def test_push_and_pull_with_duckdb(neo, tmp_path):
    from nifgraph.store.copy import copy_models
    from nifgraph.store.duckdb import DuckDBStore

    with DuckDBStore(str(tmp_path / "src.duckdb")) as src:
        model, neurons = make_model(sizes=(3, 4, 2), name="pushed")
        src.put_model(model, neurons)
        run, edges = make_run(model, seed=5)
        src.put_run(run, edges)
        src.put_analysis(make_analysis(model, run))
        neo._test_created.append(model.model_id)
        first = copy_models(src, neo, [model.model_id])
        again = copy_models(src, neo, [model.model_id])
    assert first.runs_copied == 1 and again.runs_copied == 0 and again.runs_skipped == 1
    assert neo.get_model(model.model_id) == model
    got = neo.get_edges(run.run_id)
    np.testing.assert_allclose(got["value"], edges.sort_values(["src_layer", "src_idx", "dst_idx"])["value"])
    with DuckDBStore(str(tmp_path / "back.duckdb")) as back:
        copy_models(neo, back, [model.model_id])
        assert back.get_analysis(run.run_id) == neo.get_analysis(run.run_id)
        assert len(back.get_edges(run.run_id)) == len(edges)


def _model_nodes(neo, model_id: str) -> dict[str, int]:
    """What the database still holds of a model, hidden or not."""
    got = neo.run_cypher(
        "OPTIONAL MATCH (m:Model {model_id: $m}) WITH count(m) AS models "
        "OPTIONAL MATCH (n:Neuron {model_id: $m}) WITH models, count(n) AS neurons "
        "OPTIONAL MATCH (r:Run {model_id: $m}) WITH models, neurons, count(r) AS runs "
        "OPTIONAL MATCH (c:Checkpoint {model_id: $m}) RETURN models, neurons, runs, count(c) AS checkpoints",
        {"m": model_id},
    )
    return {k: int(got[k][0]) for k in got.columns}


@pytest.mark.neo4j
def test_a_pending_model_is_invisible_and_repair_removes_it(neo):
    """A main job killed after writing its model (hidden, pending on its run) and one batch of
    the run: no read shows the model; `nifgraph db repair` deletes model, neurons, checkpoint
    and run; the same job then writes cleanly."""
    from nifgraph.errors import NotFoundError
    from nifgraph.store.neo4j_records import now_ms as _now_ms
    from nifgraph.store.neo4j_records import run_props as _run_props

    model, neurons = make_model(name="killed")
    mid = model.model_id
    neo._test_created.append(mid)
    run, edges = make_run(model)
    neo._put_model(model, neurons, b"ckpt", pending=run.run_id)  # the kill: model + begun run, then stop
    neo._write("store/begin_run", run=_run_props(run), seq=1, now_ms=_now_ms(), edge_layout=2)
    ids = [f"{mid}:0:0", f"{mid}:1:0"]
    cols = {"value": [0.5], "value_norm": [None], "q_value": [None]}
    block = {"src_layer": [0], "src_idx": [0], "dst_layer": [1], "dst_idx": [0]}
    neo._write("store/put_edges", run_id=run.run_id, seq=0, ids=ids, src=[0], dst=[1], cols=cols, block=block)

    with pytest.raises(NotFoundError):
        neo.get_model(mid)
    with pytest.raises(NotFoundError):
        neo.get_checkpoint(mid)
    assert mid not in {m.model_id for m in neo.list_models()}
    with pytest.raises(NotFoundError, match=mid):
        neo.summary_inputs([mid])
    assert mid not in set(neo.run_named("models_by_accuracy", {"limit": 100000}).get("model_id", []))
    for name, params in [("model_summary", {"model_ids": [mid]}), ("flow_concentration", {"model_ids": [mid], "top": 0.1}),
                         ("strongest_paths", {"model_id": mid, "feature_idx": 0})]:
        with pytest.raises(NotFoundError, match=mid):  # named queries name no hidden model either
            neo.run_named(name, params)
    assert neo._named("queries/model_summary", model_ids=[mid]).empty  # nor do the queries themselves
    assert neo._named("queries/flow_concentration", model_ids=[mid], top=0.1).empty
    assert mid not in {r["m"]["model_id"] for r in neo.query("bloom/models_by_accuracy")}
    info = neo.status()
    assert info["pending_models"] >= 1 and info["incomplete_runs"] >= 1

    res = invoke("db", "repair", "--dry-run", "--store", neo.uri)
    assert res.exit_code == 0 and res.output.startswith("Would remove") and mid in res.output, res.output
    assert run.run_id in res.output and _model_nodes(neo, mid)["models"] == 1  # named, not removed
    res = invoke("db", "repair", "--store", neo.uri)
    assert res.exit_code == 0 and res.output.startswith("Removed") and mid in res.output, res.output
    assert _model_nodes(neo, mid) == {"models": 0, "neurons": 0, "runs": 0, "checkpoints": 0}
    assert neo.run_cypher("MATCH ()-[e:NIF {run_id: $r}]->() RETURN count(e) AS n", {"r": run.run_id})["n"][0] == 0

    neo.put_model_with_run(model, neurons, b"ckpt", run, edges)  # the job again, whole
    assert neo.get_model(mid) == model and neo.get_checkpoint(mid) == b"ckpt"
    assert len(neo.get_edges(run.run_id)) == len(edges)
    assert neo.repair() == 0 or _model_nodes(neo, mid)["models"] == 1  # a published model is never repaired away


@pytest.mark.neo4j
def test_put_model_with_run_keeps_an_existing_model_visible(neo):
    """A second run written with put_model_with_run for a model already stored never hides it."""
    model, neurons = make_model(name="kept")
    neo._test_created.append(model.model_id)
    neo.put_model(model, neurons)
    run, edges = make_run(model)
    neo.put_model_with_run(model, neurons, None, run, edges)
    assert [r.run_id for r in neo.list_runs(model.model_id)] == [run.run_id]
    assert neo.run_cypher("MATCH (m:Model {model_id: $m}) RETURN m.pending AS p", {"m": model.model_id})["p"][0] is None


def _top_k(edges, k, alpha=None):
    """Brute force of queries/top_edges: the k strongest outgoing edges of every source neuron."""
    e = edges[edges["value"].notna()]
    if alpha is not None:
        e = e[e["q_value"] <= alpha]
    e = e.sort_values(["src_layer", "src_idx", "value", "dst_idx"], ascending=[True, True, False, True])
    return e.groupby(["src_layer", "src_idx"]).head(k)


@pytest.mark.neo4j
@pytest.mark.parametrize("significance", [False, True])
def test_browsing_queries_are_top_k_filtered_and_bounded(neo, significance):
    """top_edges and the Bloom flow network / community phrases return each neuron's k strongest
    edges, only q <= alpha ones when the run has a null (alpha ignored otherwise), never more
    rows than their limit."""
    model, neurons = make_model(sizes=(4, 5, 3), name="browse")
    neo._test_created.append(model.model_id)
    run, edges = make_run(model, seed=3)
    if significance:
        edges = edges.assign(q_value=np.linspace(0.0, 1.0, len(edges)), p_value=np.linspace(0.0, 1.0, len(edges)))
    neo.put_model_with_run(model, neurons, None, run, edges)
    neo.put_analysis(make_analysis(model, run))
    mid = model.model_id

    def key(frame):
        return sorted(zip(frame["src_layer"], frame["src_idx"], frame["dst_idx"], strict=True))

    top = neo.run_named("top_edges", {"model_id": mid, "k": 2, "alpha": 1.0, "limit": 1000})
    assert key(top) == key(_top_k(edges, 2))
    assert top["value"].is_monotonic_decreasing and set(top["rank"]) == {1, 2}
    strict = neo.run_named("top_edges", {"model_id": mid, "k": 2, "alpha": 0.3, "limit": 1000})
    assert key(strict) == key(_top_k(edges, 2, 0.3 if significance else None))
    three = neo.run_named("top_edges", {"model_id": mid, "k": 2, "alpha": 1.0, "limit": 3})
    assert len(three) == 3 and list(three["value"]) == sorted(top["value"], reverse=True)[:3]

    flow = neo.query("bloom/flow_network", model_id=mid, k=1, min_norm=0.0, alpha=1.0)
    assert len(flow) == 4 + 5  # one edge from every neuron that has outgoing edges
    assert len(neo.query("bloom/flow_network", model_id=mid, k=3, min_norm=2.0, alpha=1.0)) == 0
    comm = neo.query("bloom/community", model_id=mid, community=0, k=1)
    members = sum((n + 1) // 2 for n in model.layer_sizes)  # make_analysis: community = idx % 2
    assert len(comm) == members and all(r["e"] is None or r["t"] is not None for r in comm)


@pytest.mark.neo4j
def test_an_interrupted_delete_hides_the_model_and_repair_finishes_it(neo, monkeypatch):
    """`delete_model` killed half-way (runs gone, neurons and checkpoint not yet): no read shows
    the half-deleted model, and `repair` removes what is left."""
    from nifgraph.errors import NotFoundError

    model, neurons = make_model(name="half-deleted")
    mid = model.model_id
    neo._test_created.append(mid)
    neo.put_model(model, neurons, b"ckpt")
    run, edges = make_run(model)
    neo.put_run(run, edges)
    write = neo._write

    def killed(name, **params):
        if name == "store/delete_checkpoint":
            raise RuntimeError("killed")
        return write(name, **params)

    monkeypatch.setattr(neo, "_write", killed)
    with pytest.raises(RuntimeError):
        neo.delete_model(mid)
    monkeypatch.setattr(neo, "_write", write)
    assert mid not in {m.model_id for m in neo.list_models()}
    with pytest.raises(NotFoundError):
        neo.get_model(mid)
    assert neo.repair() >= 1
    assert _model_nodes(neo, mid) == {"models": 0, "neurons": 0, "runs": 0, "checkpoints": 0}


@pytest.mark.neo4j
def test_an_interrupted_cli_delete_says_what_is_left_and_delete_finishes_it(neo, monkeypatch):
    """Ctrl-C half-way through `nifgraph delete` on Neo4j: the message says the deletion did not
    finish (not "nothing was kept"), `db status` counts the model as an interrupted deletion, and
    `nifgraph delete NAME` -- which the hidden model no longer answers to as a stored model --
    finishes it, leaving nothing of it."""
    from nifgraph.store.neo4j import Neo4jStore

    name = f"cli-half-deleted-{np.random.default_rng().integers(1 << 30)}"
    model, neurons = make_model(name=name)
    mid = model.model_id
    neo._test_created.append(mid)
    neo.put_model(model, neurons, b"ckpt")
    run, edges = make_run(model)
    neo.put_run(run, edges)
    uri = neo4j_env()["uri"]
    write = Neo4jStore._write

    def killed(self, qname, **params):
        if qname == "store/delete_checkpoint":
            raise KeyboardInterrupt
        return write(self, qname, **params)

    def before_hiding(self, qname, **params):
        if qname == "store/hide_runs_of_model":
            raise KeyboardInterrupt
        return write(self, qname, **params)

    monkeypatch.setattr(Neo4jStore, "_write", before_hiding)  # Ctrl-C before anything was hidden
    res = invoke("delete", mid, "--yes", "--store", uri)
    assert res.exit_code == 130 and "nothing was deleted" in res.output, res.output
    assert mid in {m.model_id for m in neo.list_models()}
    monkeypatch.setattr(Neo4jStore, "_write", killed)
    res = invoke("delete", mid, "--yes", "--store", uri)
    monkeypatch.setattr(Neo4jStore, "_write", write)
    assert res.exit_code == 130, res.output
    assert "did not finish" in res.output and f"nifgraph delete {mid} --yes" in res.output
    assert (mid, name) in neo.deleting_models()
    assert invoke("delete", "", "--yes", "--store", uri).exit_code == 1  # an empty name finishes nothing
    assert (mid, name) in neo.deleting_models()
    assert mid not in {m.model_id for m in neo.list_models()}
    status = invoke("db", "status", "--store", uri)
    assert status.exit_code == 0 and "whose deletion was interrupted" in status.output, status.output
    res = invoke("delete", name, "--yes", "--store", uri)
    assert res.exit_code == 0 and "finished an interrupted deletion" in res.output, res.output
    assert _model_nodes(neo, mid) == {"models": 0, "neurons": 0, "runs": 0, "checkpoints": 0}
    assert invoke("delete", name, "--yes", "--store", uri).exit_code == 1  # now nothing is left to finish


@pytest.mark.neo4j
def test_a_named_query_given_another_run_of_the_model_says_so_and_no_rows_says_why(neo):
    """Named queries read a model's newest analysed run: its run id is accepted, an older run's
    id is a one-line error naming both runs (it used to be swapped silently); for a model with
    no run, `query` says so beside "No rows."."""
    from .store_fixtures import make_analysis

    model, old, _ = put_analysed_run(neo)
    new, edges = make_run(model, seed=1)
    neo.put_run(new, edges)
    neo.put_analysis(make_analysis(model, new))
    assert set(neo.run_named("central_neurons", {"model_id": new.run_id, "limit": 2})["run_id"]) == {new.run_id}
    with pytest.raises(ValidationError, match=f"run {old.run_id} of model {model.model_id}.*{new.run_id}"):
        neo.run_named("central_neurons", {"model_id": old.run_id, "limit": 2})
    newest, edges = make_run(model, seed=2)  # complete, not analysed: top_edges reads it, central_neurons does not
    neo.put_run(newest, edges)
    top = neo.run_named("top_edges", {"model_id": newest.run_id, "k": 1, "alpha": 0.05, "limit": 3})
    assert set(top["run_id"]) == {newest.run_id}
    with pytest.raises(ValidationError, match=f"run {newest.run_id} of model {model.model_id}.*read run {new.run_id}"):
        neo.run_named("central_neurons", {"model_id": newest.run_id, "limit": 2})
    bare, neurons = make_model(name="no-run-yet")
    neo._test_created.append(bare.model_id)
    neo.put_model(bare, neurons)
    res = invoke("query", "central_neurons", "-p", f"model_id={bare.model_id}", "-p", "limit=2", "--store", neo4j_env()["uri"])
    assert res.exit_code == 0 and "No rows." in res.output and "has no NIF run yet" in res.output, res.output


@pytest.mark.neo4j
def test_a_model_deleted_by_another_repair_while_its_run_streams_is_named_as_such(neo):
    """`db repair` in another process deletes the hidden model a job is streaming a run into:
    the job's error says that, not "edges name neurons the model does not have"."""
    from nifgraph.errors import StoreError

    model, neurons = make_model()
    neo._test_created.append(model.model_id)
    run, edges = make_run(model)
    with pytest.raises(StoreError, match="was deleted while the run was being written"):
        with neo.run_writer(run, model_parts=(model, neurons, b"ckpt")) as w:
            w.add(edges.iloc[:6])
            assert neo.repair() >= 1  # the pending model, its neurons and the run: a leftover to it
            w.add(edges.iloc[6:])
    assert _model_nodes(neo, model.model_id) == {"models": 0, "neurons": 0, "runs": 0, "checkpoints": 0}


def _dag_paths(layers, sizes, weights, src, dst):
    """Every path from neuron ``src`` = (layer, idx) to ``dst`` of a DAG of layers, enumerated,
    with the product of its edge values: ``[(strength, [(layer, idx), ...]), ...]``."""
    if src == dst:
        return [(1.0, [dst])]
    out = []
    for b, layer in enumerate(layers):
        if src[0] in layer["inputs"]:
            for k in range(sizes[b]):
                w = weights.get((src[0], src[1], b, k))
                if w is not None:
                    out += [(w * s, [src, *p]) for s, p in _dag_paths(layers, sizes, weights, (b, k), dst)]
    return out


@pytest.mark.neo4j
@pytest.mark.parametrize("sizes", [(2, 3, 3, 2), (3, 2, 4, 3)])
def test_strongest_paths_of_a_dag_model_follow_its_skip_edges(neo, sizes):
    """On a DAG model (a skip from layer 1 to the classes) the named query's max-product path
    is the best of every enumerated path, skips included, and Bloom's scene draws its edges."""
    from .store_fixtures import DAG_LAYERS, make_dag_model, make_edges

    model, neurons = make_dag_model(sizes)
    mid = model.model_id
    neo._test_created.append(mid)
    neo.put_model(model, neurons)
    last = len(sizes) - 1
    for seed in range(3):
        run, edges = make_edges(model, seed=seed, null=False, missing_value=False)
        neo.put_run(run, edges)
        weights = {(int(e.src_layer), int(e.src_idx), int(e.dst_layer), int(e.dst_idx)): float(e.value)
                   for e in edges.itertuples()}
        for f in range(sizes[0]):
            got = neo.run_named("strongest_paths", {"model_id": mid, "feature_idx": f})
            assert set(got["run_id"]) == {run.run_id} and len(got) == sizes[-1]
            for r in got.itertuples():
                paths = _dag_paths(DAG_LAYERS, sizes, weights, (0, f), (last, int(r.class_idx)))
                assert r.strength == pytest.approx(max(s for s, _ in paths), rel=1e-12)
                if r.strength == 0:  # no path carries flow: none is named
                    assert list(r.path) == [] == list(r.path_layers)
                    continue
                best = [p for s, p in paths if s == pytest.approx(r.strength, rel=1e-12)]
                assert list(zip(r.path_layers, r.path, strict=True)) in best
            scene = neo.query("bloom/strongest_paths", model_id=mid, feature_idx=f)
            drawn = {(e["a"]["layer"], e["a"]["idx"], e["b"]["layer"], e["b"]["idx"]) for e in scene}
            want = set()
            for r in got.itertuples():
                nodes = list(zip(r.path_layers, r.path, strict=True))
                want |= {(*a, *b) for a, b in zip(nodes, nodes[1:], strict=False)} if r.strength > 0 else set()
            assert drawn == want


@pytest.mark.neo4j
def test_db_estimate_without_gds_names_the_plugin(neo):
    if neo.gds_version()[0] is not None:
        pytest.skip("this server has Graph Data Science")
    res = invoke("db", "estimate", "--nodes", "100", "--edges", "1000", "--store", neo.uri)
    assert res.exit_code == 1 and len(res.output.strip().splitlines()) == 1, res.output
    assert "graph-data-science" in res.output and "--engine local" in res.output and "gds.version" not in res.output


@pytest.mark.neo4j
def test_an_analysis_published_while_it_is_read_is_read_whole(neo, monkeypatch):
    """get_analysis reads a header and its rows in separate statements; another process
    publishing a new analysis in between (and deleting the old one's rows) gives the new one
    whole, never the old header with no rows."""
    import dataclasses

    model, run, old = put_analysed_run(neo)
    new = dataclasses.replace(old, modularity=0.77, attribution=old.attribution.assign(value=old.attribution["value"] + 10))
    query, fired = neo.query, []

    def racing(name, **params):
        if name == "store/get_attribution" and not fired:
            fired.append(1)
            monkeypatch.setattr(neo, "query", query)
            neo.put_analysis(new)  # publishes, then deletes the old rows
            monkeypatch.setattr(neo, "query", racing)
        return query(name, **params)

    monkeypatch.setattr(neo, "query", racing)
    got = neo.get_analysis(run.run_id)
    assert fired and got.modularity == 0.77
    assert len(got.neuron_metrics) == len(old.neuron_metrics)
    np.testing.assert_allclose(np.sort(got.attribution["value"]), np.sort(new.attribution["value"]))


@pytest.mark.neo4j
def test_the_gds_edge_summary_counts_edges_without_a_value(neo):
    """NaN values are stored as missing properties; gds/edge_summary counts them, so the GDS
    engine can refuse the run as the local engine does (no GDS needed for this query)."""
    model, neurons = make_model(sizes=(3, 4, 2))
    neo._test_created.append(model.model_id)
    neo.put_model(model, neurons)
    run, edges = make_run(model)
    edges.loc[[5, 7], "value"] = np.nan
    neo.put_run(run, edges)
    (got,) = neo.query("gds/edge_summary", model_id=model.model_id, run_id=run.run_id, alpha=None)
    assert got["n_edges"] == len(edges) and got["n_missing"] == 2

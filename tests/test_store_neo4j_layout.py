"""Schema version 2 of the Neo4j store: NIF relationships keep run_id, value, value_norm, q_value;
the secondary statistics are columns on NIFColumns nodes (a column equal to its default left out).
Against ground truth: every edge table written comes back bit for bit; a database of schema 1 is
migrated on open, also after a crash half-way; a newer one is refused in one line."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nifgraph.errors import StoreUnavailableError
from nifgraph.records import EDGE_COLUMNS
from nifgraph.store.neo4j_layout import SCHEMA_VERSION
from nifgraph.store.neo4j_records import (
    COLUMN_PROPS,
    KEY_COLUMNS,
    REL_PROPS,
    edge_batches,
    edge_frame,
)

from .fakes import fake_neo4j_store
from .store_fixtures import edge_variant as _edges
from .store_fixtures import make_model, make_run

STATS = [c for c in EDGE_COLUMNS if c not in ("run_id", *KEY_COLUMNS)]


def _through_columns(frame: pd.DataFrame, size: int) -> pd.DataFrame:
    """What get_edges rebuilds from the put_edges batches of ``frame`` (read back in another order)."""
    rel = {c: [] for c in (*KEY_COLUMNS, *REL_PROPS)}
    blocks = []
    for batch in edge_batches("m-x", frame, size):
        blocks.append(batch["block"])
        layer_idx = [tuple(int(p) for p in i.split(":")[1:]) for i in batch["ids"]]
        for k, (s, d) in enumerate(zip(batch["src"], batch["dst"], strict=True)):
            rel["src_layer"].append(layer_idx[s][0])
            rel["src_idx"].append(layer_idx[s][1])
            rel["dst_layer"].append(layer_idx[d][0])
            rel["dst_idx"].append(layer_idx[d][1])
            for c in REL_PROPS:
                v = batch["cols"][c][k]
                rel[c].append(float("nan") if v is None else v)  # coalesce(e.x, NaN)
    rev = {c: v[::-1] for c, v in rel.items()}  # the relationships come back in any order
    return edge_frame({**rev, "blocks": blocks[::-1]}, "r-x")


def _assert_bitwise(got: pd.DataFrame, want: pd.DataFrame) -> None:
    want = want.sort_values(["src_layer", "src_idx", "dst_idx"]).reset_index(drop=True)
    for c in KEY_COLUMNS:
        assert got[c].tolist() == want[c].tolist(), c
    for c in STATS:
        a, b = got[c].to_numpy(np.float64), want[c].to_numpy(np.float64)
        assert np.array_equal(a, b, equal_nan=True) and np.array_equal(np.signbit(a), np.signbit(b)), c


@pytest.mark.parametrize("kind", ["plain", "beta", "null", "everything"])
@pytest.mark.parametrize("size", [1, 8, 1000])
def test_edge_table_round_trips_bit_for_bit(kind, size):
    frame = _edges(kind)
    _assert_bitwise(_through_columns(frame, size), frame)


def test_columns_equal_to_their_default_are_not_stored():
    stored = {kind: {k for b in edge_batches("m-x", _edges(kind), 1000) for k in b["block"]} for kind in
              ("plain", "beta", "null", "everything")}
    keys = set(KEY_COLUMNS)
    assert stored["plain"] == keys  # nifgraph run without null or beta: only the edges' ends
    assert stored["beta"] == keys | {"relevance", "redundancy"}
    assert stored["null"] == keys | {"p_value", "ci_low", "ci_high"}  # q_value is on the relationship
    assert stored["everything"] == keys | set(COLUMN_PROPS)


def test_columns_that_name_other_edges_are_refused():
    frame = _edges("plain")
    batches = list(edge_batches("m-x", frame, 1000))
    batches[0]["block"]["dst_idx"][0] += 1
    cols = {c: [] for c in (*KEY_COLUMNS, *REL_PROPS)}
    for b in batches:
        ids = [tuple(int(p) for p in i.split(":")[1:]) for i in b["ids"]]
        for k, (s, d) in enumerate(zip(b["src"], b["dst"], strict=True)):
            for c, v in zip(KEY_COLUMNS, (*ids[s], *ids[d]), strict=True):
                cols[c].append(v)
            for c in REL_PROPS:
                cols[c].append(b["cols"][c][k] if b["cols"][c][k] is not None else float("nan"))
    from nifgraph.errors import StoreError

    with pytest.raises(StoreError, match="do not name the same edges"):
        edge_frame({**cols, "blocks": [b["block"] for b in batches]}, "r-x")


# -- the schema check and the migration, against the recording fake -------------------------
def test_a_newer_database_is_refused_in_one_line():
    store = fake_neo4j_store(answers={"store/schema_state": lambda p: [{"version": 3, "old_runs": [], "layouts": [3]}]})
    with pytest.raises(StoreUnavailableError, match="schema version 3.*upgrade nifgraph") as e:
        store.list_models()
    assert "\n" not in str(e.value)


def test_migration_steps_run_in_crash_safe_order():
    frame = _edges("null")
    cols = {c: frame[c].tolist() for c in (*KEY_COLUMNS, *STATS)}
    store = fake_neo4j_store(answers={
        "store/schema_state": lambda p: [{"version": None, "old_runs": ["r-old"], "layouts": []}],
        "store/old_run_edges": lambda p: [cols],
        "store/set_schema_version": lambda p: [{"version": p["version"]}],
    }, record_schema_check=True)
    store.batch_size = 20
    store.list_models()
    names = [n for n, _ in store.runner.calls if not n.startswith("schema/")]
    assert names[:2] == ["store/schema_state", "store/old_run_edges"]
    puts = [p for n, p in store.runner.calls if n == "store/put_columns"]
    assert [p["seq"] for p in puts] == [0, 1, 2]  # 56 edges in batches of 20
    after = names[names.index("store/put_columns") + len(puts):]
    # stale columns of an earlier attempt, then the commit point, then the clean-up
    assert after[:4] == ["store/delete_run_columns", "store/set_run_layout", "store/strip_edge_props",
                         "store/set_schema_version"]
    assert [p for n, p in store.runner.calls if n == "store/delete_run_columns"][0]["from_seq"] == 3
    assert names[-1] == "store/list_models"
    # the columns rebuild the old relationships' statistics exactly
    rel = {c: frame[c].tolist() for c in (*KEY_COLUMNS, *REL_PROPS)}
    _assert_bitwise(edge_frame({**rel, "blocks": [p["block"] for p in puts]}, "r-old"), frame)


# -- against a server ------------------------------------------------------------------
def _write_version_1_run(neo, model, edges: pd.DataFrame, run_id: str) -> None:
    """A run as nifgraph before schema 2 wrote it: every statistic on the relationship."""
    rows = []
    for r in edges.to_dict("records"):
        props = {c: r[c] for c in STATS if r[c] == r[c]}  # NaN: not stored
        rows.append({"s": f"{model.model_id}:{r['src_layer']}:{r['src_idx']}",
                     "d": f"{model.model_id}:{r['dst_layer']}:{r['dst_idx']}", "p": props})
    neo.run_cypher(
        "MATCH (m:Model {model_id: $m}) CREATE (r:Run {run_id: $r, model_id: $m, status: 'complete', seq: 1, "
        "created_at: '2026-01-01T00:00:00', estimator: 'mine', n_edges: $n})-[:OF_MODEL]->(m) "
        "WITH r UNWIND $rows AS row MATCH (s:Neuron {neuron_id: row.s}), (d:Neuron {neuron_id: row.d}) "
        "CREATE (s)-[e:NIF]->(d) SET e = row.p, e.run_id = $r RETURN count(e) AS n",
        {"m": model.model_id, "r": run_id, "n": len(rows), "rows": rows}, write=True,
    )


@pytest.mark.neo4j
def test_a_version_1_run_is_migrated_on_open_even_after_a_crash(neo):
    from nifgraph.store.neo4j import Neo4jStore

    model, neurons = make_model(sizes=(5, 7, 3))
    neo._test_created.append(model.model_id)
    neo.put_model(model, neurons)
    frame = _edges("everything").assign(run_id="r-v1" + model.model_id[2:8])
    run_id = frame["run_id"][0]
    _write_version_1_run(neo, model, frame, run_id)

    def fresh() -> Neo4jStore:
        s = Neo4jStore(neo.uri, neo.user, neo.runner._password, neo.database)
        s.batch_size = 16
        return s

    # a process killed just before the commit point of the run's migration
    crashing = fresh()
    write = crashing._write

    def boom(name, **params):
        if name == "store/set_run_layout":
            raise KeyboardInterrupt("killed")
        return write(name, **params)

    crashing._write = boom
    with pytest.raises(KeyboardInterrupt):
        crashing.list_models()
    crashing.close()
    left = neo.run_cypher("MATCH ()-[e:NIF {run_id: $r}]->() RETURN count(e.relevance) AS n", {"r": run_id})
    assert left["n"][0] == len(frame)  # nothing moved yet

    st = fresh()  # the next open migrates it
    try:
        _assert_bitwise(st.get_edges(run_id), frame)
        got = st.run_cypher(
            "MATCH ()-[e:NIF {run_id: $r}]->() RETURN count(e) AS n, count(e.relevance) AS rel, "
            "count(e.cost) AS cost, count(e.value_norm) AS norm", {"r": run_id})
        assert (got["n"][0], got["rel"][0], got["cost"][0], got["norm"][0]) == (len(frame), 0, 0, len(frame))
        blocks = st.run_cypher("MATCH (c:NIFColumns {run_id: $r}) RETURN c.seq AS seq ORDER BY seq", {"r": run_id})
        assert blocks["seq"].tolist() == [0, 1, 2, 3]  # 56 edges, 16 a node; no stale ones
        assert st.status()["schema"]["version"] == SCHEMA_VERSION
        st.delete_model(model.model_id)  # a migrated run is deleted whole
        assert st.run_cypher("MATCH (c:NIFColumns {run_id: $r}) RETURN count(c) AS n", {"r": run_id})["n"][0] == 0
    finally:
        st.close()


@pytest.mark.neo4j
def test_every_variant_round_trips_through_the_server(neo):
    model, neurons = make_model(sizes=(5, 7, 3))
    neo._test_created.append(model.model_id)
    neo.put_model(model, neurons)
    neo.batch_size = 10
    for kind in ("plain", "beta", "null", "everything"):
        run, _ = make_run(model)
        frame = _edges(kind).assign(run_id=run.run_id)
        neo.put_run(run, frame)
        _assert_bitwise(neo.get_edges(run.run_id), frame)
    props = neo.run_cypher(
        "MATCH (:Neuron {model_id: $m})-[e:NIF]->() UNWIND keys(e) AS k RETURN collect(DISTINCT k) AS keys",
        {"m": model.model_id})["keys"][0]
    assert set(props) == {"run_id", "value", "value_norm", "q_value"}

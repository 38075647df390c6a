"""The Cypher files, checked without a server: headers, parameters passed by the code,
no Cypher built in Python, idempotent schema and writes, read-only named queries, and the
store's control flow against a recording fake runner."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pandas as pd
import pytest

from nifgraph import cypher
from nifgraph.errors import NotFoundError, StoreError, ValidationError

from .fakes import fake_neo4j_store

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "nifgraph"
ALL = cypher.all_queries()

#: Calls that run a named query: the first argument names the file, keywords are its params.
RUNNER_CALLS = {"query", "_read", "_columns", "_write", "_drain", "run_in_tx", "_project", "_named", "_one"}


def _body(q: cypher.CypherQuery) -> str:
    return cypher._strip_comments(q.text)


def test_every_file_loads_with_a_header():
    files = sorted((ROOT / "cypher").rglob("*.cypher"))
    assert len(files) == len(ALL) >= 40
    for q in ALL:
        assert q.text.startswith("// name: "), q.name
        assert q.description, q.name
        assert _body(q).strip(), f"{q.name} has no statement"


def test_named_queries_cover_the_questions():
    names = {q.short_name for q in cypher.named_queries()}
    assert {
        "prunable_neurons",
        "strongest_paths",
        "central_neurons",
        "community_membership",
        "models_by_accuracy",
        "models_by_prunable",
        "compare_attribution",
    } <= names


def _runner_calls() -> list[tuple[str, str, set[str], int]]:
    calls = []
    for path in PKG.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            fn = node.func
            fname = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""
            if fname not in RUNNER_CALLS:
                continue
            consts = [a for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            if not consts:
                continue
            assert all(k.arg is not None for k in node.keywords), f"{path}:{node.lineno} passes **params"
            calls.append((f"{path.relative_to(ROOT)}:{node.lineno}", consts[0].value, {k.arg for k in node.keywords}, node.lineno))
    return calls


def test_code_passes_exactly_the_declared_parameters():
    calls = _runner_calls()
    assert len(calls) >= 40
    for where, name, kwargs, _ in calls:
        q = cypher.load(name)
        assert kwargs == set(q.params), f"{where}: {name} takes {sorted(q.params)}, code passes {sorted(kwargs)}"


def test_every_non_named_query_is_used_by_the_code():
    used = {name for _, name, _, _ in _runner_calls()}
    used |= {"schema/constraints", "schema/indexes"}  # run statement by statement
    unused = [
        q.name for q in ALL
        if not q.name.startswith(("queries/", "bloom/")) and q.name not in used
    ]
    assert unused == []


_CYPHER_IN_PY = re.compile(
    r"\b(?:OPTIONAL\s+MATCH|MATCH|MERGE)\s*\(|\bUNWIND\s+\$|\bDETACH\s+DELETE\b|\]->\(|"
    r"\bCALL\s+(?:gds|db|dbms)\.|\bCREATE\s+(?:CONSTRAINT|INDEX)\s+\w+\s+IF\s+NOT\s+EXISTS\b|"
    r"\bRETURN\s+gds\."
)


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = getattr(node, "body", [])
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def test_no_cypher_is_built_in_python():
    offenders = []
    for path in PKG.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
                if _CYPHER_IN_PY.search(node.value):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            if isinstance(node, ast.JoinedStr):
                text = "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
                if _CYPHER_IN_PY.search(text):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} (f-string)")
    assert offenders == [], "Cypher belongs in cypher/*.cypher, loaded with nifgraph.cypher.load"


def test_schema_is_idempotent_and_community_compatible():
    names = []
    for name in ("schema/constraints", "schema/indexes"):
        for statement in cypher.load(name).statements:
            assert "IF NOT EXISTS" in statement, statement
            assert "NODE KEY" not in statement.upper() and "IS NOT NULL" not in statement.upper()
            names.append(re.match(r"CREATE\s+(?:CONSTRAINT|INDEX)\s+(\w+)", statement).group(1))
    assert len(names) == len(set(names)) >= 10
    from nifgraph.store.neo4j import expected_schema

    assert expected_schema() == names


#: Writes that CREATE: put_run deletes the run's edges before it writes them (see
#: test_put_run_completes_last_and_batches), so MERGE would only add a scan per edge.
CREATES = {"store/put_edges"}


def test_writes_merge_never_create():
    for q in ALL:
        if q.name.startswith("store/") and q.name not in CREATES:
            assert not re.search(r"(?<!ON )\bCREATE\b", _body(q)), f"{q.name}: use MERGE so writes are idempotent"


def test_batched_writes_unwind_rows():
    for name in ("store/put_neurons", "store/put_neuron_results", "store/put_attribution"):
        assert "UNWIND $rows AS row" in _body(cypher.load(name))
    # edges in columns: neurons matched once per batch, then one row per edge
    body = _body(cypher.load("store/put_edges"))
    assert "UNWIND range(0, size($ids) - 1)" in body and "UNWIND range(0, size($src) - 1)" in body


def test_named_queries_are_read_only():
    for q in ALL:
        if q.name.startswith(("queries/", "bloom/", "gds/")):
            assert not re.search(r"\b(CREATE|MERGE|SET|DELETE|REMOVE|DETACH)\b", _body(q)), q.name


def test_no_variable_length_paths():
    for q in ALL:
        assert not re.search(r"-\[[^\]]*\*[^\]]*\]-", _body(q)), f"{q.name} expands a variable-length path"
        assert "shortestPath" not in _body(q) and "allShortestPaths" not in _body(q)


def test_reads_of_runs_filter_complete():
    for name in ("store/get_run", "store/list_runs", "store/get_edges", "store/get_analysis"):
        assert "r.status = 'complete'" in _body(cypher.load(name))


def test_projections_filter_model_and_run():
    for name in ("gds/project_directed", "gds/project_undirected"):
        body = _body(cypher.load(name))
        assert "$model_id" in body and "$run_id" in body and "gds.graph.project($graph_name" in body
    assert "undirectedRelationshipTypes" in _body(cypher.load("gds/project_undirected"))
    # the local engine's cost (local.betweenness hands igraph -ln(value_norm) + 1): positive, ties kept
    assert "1.0 - log(e.value / top) AS cost" in _body(cypher.load("gds/project_directed"))


def test_header_and_body_must_agree(tmp_path, monkeypatch):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "bad.cypher").write_text("// name: x/bad\n// answers: a\n// params: a\nRETURN $b\n")
    (tmp_path / "x" / "nohead.cypher").write_text("RETURN 1\n")
    monkeypatch.setenv("NIFGRAPH_CYPHER_DIR", str(tmp_path))
    with pytest.raises(ValidationError, match="params"):
        cypher.load("x/bad")
    with pytest.raises(ValidationError, match="header"):
        cypher.load("x/nohead")
    with pytest.raises(NotFoundError, match="nifgraph query --list"):
        cypher.load("x/absent")


def test_parameters_in_strings_and_comments_are_ignored(tmp_path, monkeypatch):
    (tmp_path / "q.cypher").write_text(
        "// name: q\n// answers: a\n// params: a:int\nRETURN $a AS x, '$notaparam' AS y // $nor_this\n"
    )
    monkeypatch.setenv("NIFGRAPH_CYPHER_DIR", str(tmp_path))
    assert cypher.load("q").params == ("a",)


def test_convert_param_types():
    q = cypher.named("central_neurons")
    assert cypher.convert_param(q, "limit", "5") == 5
    assert cypher.convert_param(q, "model_id", "m-1") == "m-1"
    with pytest.raises(ValidationError, match=r"'limit' parameter .* must be an int ≥ 1 .*; got 'five'"):
        cypher.convert_param(q, "limit", "five")
    with pytest.raises(ValidationError, match="takes no parameter"):
        cypher.convert_param(q, "nope", "1")
    with pytest.raises(NotFoundError, match="known"):
        cypher.named("nope")


@pytest.mark.parametrize(("query", "key", "raw"), [
    ("central_neurons", "limit", "0"), ("central_neurons", "limit", "-3"), ("top_edges", "k", "-1"),
    ("top_edges", "alpha", "nan"), ("top_edges", "alpha", "1.5"), ("flow_concentration", "top", "2"),
    ("flow_concentration", "top", "0"), ("flow_concentration", "top", "inf"), ("strongest_paths", "feature_idx", "-1"),
])
def test_named_query_values_out_of_range_are_one_line_errors(query, key, raw):
    """Every declared parameter is checked for its type and range before the server sees it
    (the server's own messages name no parameter, and some values it accepts make no sense:
    top = 2 gave a concentration of 1.0 from 70 of 35 edges)."""
    q = cypher.named(query)
    with pytest.raises(ValidationError, match=rf"The '{key}' parameter of query '{query}' must be .*; got"):
        cypher.convert_param(q, key, raw)



@pytest.mark.parametrize(("query", "key", "value"), [
    ("central_neurons", "limit", 0), ("central_neurons", "limit", True), ("central_neurons", "limit", 3.0),
    ("flow_concentration", "top", 2.0), ("top_edges", "alpha", float("nan")), ("central_neurons", "model_id", 3),
])
def test_the_python_api_checks_values_alike(query, key, value):
    with pytest.raises(ValidationError, match=rf"The '{key}' parameter of query '{query}' must be"):
        cypher.check_value(cypher.named(query), key, value)


def test_list_parameters_take_commas_or_json():
    q = cypher.named("model_summary")
    assert cypher.convert_param(q, "model_ids", "m-a, m-b,m-c") == ["m-a", "m-b", "m-c"]
    assert cypher.convert_param(q, "model_ids", '["m-a", "m-b"]') == ["m-a", "m-b"]
    assert cypher.convert_param(q, "model_ids", "m-a") == ["m-a"]
    assert cypher.check_value(q, "model_ids", ("m-a",)) == ["m-a"]
    assert cypher.convert_param(cypher.named("flow_concentration"), "top", "1") == 1.0
    assert cypher.convert_param(cypher.named("top_edges"), "alpha", "0") == 0.0


# -- the store's control flow against a recording fake runner ---------------------------
def _fake_store(**kw):
    from nifgraph.store.neo4j_records import model_props as _model_props

    from .store_fixtures import make_model

    model, neurons = make_model()
    answers = {
        "store/get_model": lambda p: [{"model": _model_props(model)}],
        **kw.pop("answers", {}),
    }
    store = fake_neo4j_store(answers=answers, **kw)
    return store, model, neurons


def test_put_run_completes_last_and_batches():
    from .store_fixtures import make_run

    store, model, _ = _fake_store()
    store.batch_size = 5
    run, edges = make_run(model)
    store.put_run(run, edges)
    names = [n for n, _ in store.runner.calls]
    # the old edges of the run are deleted before any edge is CREATEd
    assert names[:3] == ["store/get_model", "store/begin_run", "store/delete_run_edges"]
    assert names[-1] == "store/complete_run"
    puts = [p for n, p in store.runner.calls if n == "store/put_edges"]
    assert sorted(len(p["src"]) for p in puts) == [4, 4, 5, 5]  # 18 edges, at most 5 a batch: 4 even batches
    # every batch names each of its neurons once; the edges point into that list
    got = []
    for p in puts:
        assert len(set(p["ids"])) == len(p["ids"])
        assert {len(v) for v in p["cols"].values()} == {len(p["src"])} == {len(p["dst"])}
        for i, (s, d) in enumerate(zip(p["src"], p["dst"], strict=True)):
            got.append((p["ids"][s], p["ids"][d], p["cols"]["value"][i]))
        # the batch's NIFColumns node names the same edges, in the same order
        b = p["block"]
        assert {len(b[c]) for c in ("src_layer", "src_idx", "dst_layer", "dst_idx")} == {len(p["src"])}
        for i, (s, d) in enumerate(zip(p["src"], p["dst"], strict=True)):
            assert p["ids"][s] == f"{model.model_id}:{b['src_layer'][i]}:{b['src_idx'][i]}"
            assert p["ids"][d] == f"{model.model_id}:{b['dst_layer'][i]}:{b['dst_idx'][i]}"
    want = [
        (f"{model.model_id}:{r.src_layer}:{r.src_idx}", f"{model.model_id}:{r.dst_layer}:{r.dst_idx}", r.value)
        for r in edges.itertuples()
    ]
    assert got == want
    assert [p["seq"] for p in puts] == [0, 1, 2, 3]
    # on the relationship: what queries filter and sort on; NaN q-values (no null) are not stored
    assert set(puts[0]["cols"]) == {"value", "value_norm", "q_value"}
    assert all(q is None for p in puts for q in p["cols"]["q_value"])
    # in the columns: only what differs from its default (relevance = value and redundancy = 0 here,
    # no null); the fixture's cost is -log(norm), which is -0.0 for the strongest edge: stored
    assert {k for p in puts for k in p["block"]} <= {"src_layer", "src_idx", "dst_layer", "dst_idx", "cost"}


def test_a_new_run_skips_the_deletes():
    from .store_fixtures import make_run

    store, model, _ = _fake_store(answers={"store/begin_run": lambda p: [{"run_id": p["run"]["run_id"], "fresh": True}]})
    run, edges = make_run(model)
    store.put_run(run, edges)
    names = [n for n, _ in store.runner.calls]
    assert names[:3] == ["store/get_model", "store/begin_run", "store/put_edges"]
    assert "store/delete_run_edges" not in names and "store/delete_run_columns" not in names


def test_failed_put_run_deletes_what_it_wrote():
    from .store_fixtures import make_run

    store, model, _ = _fake_store()
    store.batch_size = 5
    run, edges = make_run(model)
    n = {"k": 0}

    def boom(table, rows):
        n["k"] += 1
        if n["k"] == 2:
            raise RuntimeError("simulated crash")

    store._after_batch = boom
    with pytest.raises(RuntimeError, match="simulated crash"):
        store.put_run(run, edges)
    names = [n for n, _ in store.runner.calls]
    assert "store/complete_run" not in names
    assert names[-1] == "store/delete_run_node"


def test_put_run_refuses_edges_to_unknown_neurons():
    from .store_fixtures import make_run

    present = {"store/write_target_state": lambda p: [{"models": 1, "neurons": 9, "runs": 1}]}
    store, model, _ = _fake_store(answers={"store/put_edges": lambda p: [{"written": 0}], **present})
    run, edges = make_run(model)
    with pytest.raises(ValidationError, match="neurons that model"):
        store.put_run(run, edges)
    assert [n for n, _ in store.runner.calls][-1] == "store/delete_run_node"
    # the model's neurons gone meanwhile (another process's repair): said so
    gone = {"store/write_target_state": lambda p: [{"models": 0, "neurons": 0, "runs": 1}]}
    store, model, _ = _fake_store(answers={"store/put_edges": lambda p: [{"written": 0}], **gone})
    run, edges = make_run(model)
    with pytest.raises(StoreError, match="was deleted while the run was being written"):
        store.put_run(run, edges)


def test_interrupted_analysis_never_moves_the_pointer():
    from nifgraph.store.neo4j_records import run_props as _run_props

    from .store_fixtures import make_analysis, make_run

    store, model, _ = _fake_store()
    run, _ = make_run(model)
    store.runner.answers["store/get_run"] = lambda p: [{"run": _run_props(run)}]
    store.batch_size = 3

    def boom(table, rows):
        raise RuntimeError("simulated crash")

    store._after_batch = boom
    with pytest.raises(RuntimeError):
        store.put_analysis(make_analysis(model, run))
    names = [n for n, _ in store.runner.calls]
    assert "store/publish_analysis" not in names
    begun = [p for n, p in store.runner.calls if n == "store/begin_analysis"][0]["analysis"]["analysis_id"]
    deleted = [p["analysis_id"] for n, p in store.runner.calls if n == "store/delete_analysis_node"]
    assert deleted == [begun]  # only the new, unfinished analysis is removed


def test_put_analysis_publishes_then_deletes_the_old_one():
    from nifgraph.store.neo4j_records import run_props as _run_props

    from .store_fixtures import make_analysis, make_run

    store, model, _ = _fake_store()
    run, _ = make_run(model)
    store.runner.answers["store/get_run"] = lambda p: [{"run": _run_props(run)}]
    store.runner.answers["store/analyses_of_run"] = lambda p: [{"analysis_id": "a-old"}, {"analysis_id": new[0]}]
    new: list[str] = []
    orig = store.runner.write

    def write(query, params):
        if query.name == "store/begin_analysis":
            new.append(params["analysis"]["analysis_id"])
        return orig(query, params)

    store.runner.write = write
    store.put_analysis(make_analysis(model, run))
    names = [n for n, _ in store.runner.calls]
    assert names.index("store/publish_analysis") < names.index("store/delete_analysis_node")
    deleted = [p["analysis_id"] for n, p in store.runner.calls if n == "store/delete_analysis_node"]
    assert deleted == ["a-old"]
    rows = [p for n, p in store.runner.calls if n == "store/put_attribution"]
    last = len(model.layer_sizes) - 1
    assert rows[0]["rows"][0]["dst"].startswith(f"{model.model_id}:{last}:")


def test_model_roundtrip_through_properties():
    from nifgraph.records import model_from_flat as _model_from
    from nifgraph.store.neo4j_records import model_props as _model_props

    from .store_fixtures import make_model

    model, _ = make_model()
    back = _model_from(_model_props(model))
    assert back == model and back.meta == model.meta


def test_named_query_parameters_are_checked():
    from nifgraph.store.neo4j_records import model_props as _model_props
    from nifgraph.store.neo4j_records import run_props as _run_props

    from .store_fixtures import make_model, make_run

    store, model, _ = _fake_store()
    mid = model.model_id
    run, _ = make_run(model)
    other, _ = make_model((3, 2), name="other")
    store.runner.answers["store/list_models"] = lambda p: [{"model": _model_props(m)} for m in (model, other)]
    store.runner.answers["store/list_runs"] = lambda p: [{"run": _run_props(run)}]
    with pytest.raises(ValidationError, match="missing"):
        store.run_named("central_neurons", {"model_id": mid})
    with pytest.raises(ValidationError, match="unknown"):
        store.run_named("central_neurons", {"model_id": mid, "limit": 3, "x": 1})
    with pytest.raises(ValidationError, match="'limit' parameter .* must be an int ≥ 1"):
        store.run_named("central_neurons", {"model_id": mid, "limit": 0})
    store.runner.answers["queries/central_neurons"] = lambda p: [{"run_id": run.run_id, "layer": 1, "idx": 0}]
    frame = store.run_named("central_neurons", {"model_id": mid, "limit": 3})
    assert isinstance(frame, pd.DataFrame) and list(frame.columns) == ["run_id", "layer", "idx"]
    # a model is named as every command names it; the query gets the full id
    for ref in (mid, mid[:8], "toy", run.run_id, "latest"):
        store.runner.calls.clear()
        store.run_named("central_neurons", {"model_id": ref, "limit": 3})
        want = other.model_id if ref == "latest" else mid
        assert store.runner.calls[-1] == ("queries/central_neurons", {"model_id": want, "limit": 3}), ref
    # a run id names that run: a query whose rule read another run of the model says so
    store.runner.answers["queries/central_neurons"] = lambda p: [{"run_id": "r-other", "layer": 1, "idx": 0}]
    with pytest.raises(ValidationError, match=f"is run {run.run_id} of model {mid}, but query 'central_neurons' read run r-other"):
        store.run_named("central_neurons", {"model_id": run.run_id, "limit": 3})
    store.run_named("central_neurons", {"model_id": mid, "limit": 3})  # by model: whichever run its rule reads
    store.runner.answers["queries/compare_attribution"] = lambda p: [{"feature": "a", "rank_a": 1}]
    with pytest.raises(ValidationError, match="does not say which"):
        store.run_named("compare_attribution", {"model_a": run.run_id, "model_b": "other"})
    store.runner.answers["queries/model_summary"] = lambda p: []
    store.run_named("model_summary", {"model_ids": ["toy", "other"]})
    assert store.runner.calls[-1] == ("queries/model_summary", {"model_ids": [mid, other.model_id]})
    with pytest.raises(NotFoundError, match="No model or run 'm-nope'"):
        store.run_named("central_neurons", {"model_id": "m-nope", "limit": 3})
    with pytest.raises(NotFoundError, match="No model or run 'm-nope'"):
        store.run_named("model_summary", {"model_ids": ["toy", "m-nope"]})
    with pytest.raises(ValidationError, match=f"feature_idx 4 is not an input of model {mid}: it has 4"):
        store.run_named("strongest_paths", {"model_id": mid, "feature_idx": 4})


def test_bind_refuses_wrong_parameters():
    from nifgraph.store.neo4j_runner import bind as _bind

    with pytest.raises(RuntimeError, match="takes parameters"):
        _bind("store/get_run", {"run": "r-1"})


def test_missing_model_is_a_clear_error():
    store, _, _ = _fake_store(answers={"store/get_model": lambda p: []})
    with pytest.raises(NotFoundError, match="nifgraph models"):
        store.get_model("m-x")


def test_no_statement_needs_an_implicit_transaction():
    """Every store statement runs in a managed transaction (execute_read / execute_write), in
    which Neo4j refuses CALL { … } IN TRANSACTIONS and PERIODIC COMMIT."""
    for q in ALL:
        body = _body(q).upper()
        assert not re.search(r"\bIN\s+(\d+\s+ROWS\s+OF\s+)?TRANSACTIONS\b", body), q.name
        assert "PERIODIC COMMIT" not in body, q.name


def test_descending_orders_put_missing_values_last():
    """Cypher sorts null first in DESC order: a NaN stored as a missing property must not
    top a ranking."""
    for name, key in (
        ("queries/models_by_accuracy", "test_accuracy"),
        ("bloom/models_by_accuracy", "m.test_accuracy"),
        ("queries/central_neurons", "betweenness"),
        ("bloom/central_neurons", "score"),
    ):
        assert f"ORDER BY {key} IS NULL, {key} DESC" in _body(cypher.load(name)), name


# -- ad-hoc Cypher transactions ----------------------------------------------------------
class _FakeResult:
    def __init__(self, query_type):
        self.query_type = query_type

    def keys(self):
        return ["x"]

    def __iter__(self):
        return iter([_FakeRecord()])

    def consume(self):
        return self


class _FakeRecord:
    def values(self):
        return [1]


class _FakeSession:
    def __init__(self, query_type):
        self.query_type = query_type
        self.used: list[str] = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def run(self, text, params):  # auto-commit
        self.used.append("auto-commit")
        return _FakeResult(self.query_type)

    def execute_read(self, work):
        self.used.append("read")
        tx = type("Tx", (), {"run": lambda _s, text, params: _FakeResult(self.query_type)})()
        return work(tx)

    def execute_write(self, work):  # pragma: no cover - must not be used for ad-hoc writes
        self.used.append("write")
        raise AssertionError("ad-hoc writes run auto-commit (CALL { } IN TRANSACTIONS)")


def test_adhoc_reads_are_managed_and_writes_auto_commit(monkeypatch):
    from nifgraph.store.neo4j_runner import DriverRunner

    runner = DriverRunner("bolt://fake:7687", "neo4j", "pw", None)
    session = _FakeSession("r")
    monkeypatch.setattr(runner, "session", lambda write: session)
    assert runner.adhoc("RETURN 1 AS x", {}, write=False) == (["x"], [[1]])
    session.query_type = "w"
    with pytest.raises(ValidationError, match="--write"):
        runner.adhoc("CREATE (n)", {}, write=False)
    assert runner.adhoc("CREATE (n)", {}, write=True) == (["x"], [[1]])
    assert session.used == ["read", "read", "auto-commit"]


# -- Neo4j's own parser (optional: needs node and `npm install` in scripts/cypher-lint) ----
LINT = ROOT / "scripts" / "cypher-lint"


def _lint_skip_reason() -> str | None:
    import shutil

    if shutil.which("node") is None:
        return "node is not installed (the Cypher parser check runs on Node.js)"
    if not (LINT / "node_modules" / "@neo4j-cypher" / "language-support").is_dir():
        return "run `npm install` in scripts/cypher-lint to enable the Cypher parser check"
    return None


@pytest.mark.slow
@pytest.mark.skipif(_lint_skip_reason() is not None, reason=_lint_skip_reason() or "")
def test_every_file_parses_with_neo4js_parser():
    """Syntax and semantic analysis (scoping, types, function and GDS procedure signatures)
    of every .cypher file as Cypher 5 and Cypher 25, offline (scripts/cypher-lint/lint.mjs)."""
    import json
    import subprocess

    proc = subprocess.run(
        ["node", str(LINT / "lint.mjs"), "--json", str(ROOT / "cypher")],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads(proc.stdout)
    assert report["files"] == len(ALL)
    problems = [f"{d['file']}:{d['line']}:{d['column']}: {d['severity']}: {d['message']}" for d in report["diagnostics"]]
    assert problems == [], "\n".join(problems)


def test_values_beyond_what_cypher_holds_are_one_line_errors():
    """An int past 64 bits crashed the driver (OverflowError traceback); an empty list of models
    answered 'No rows.' for a question that names none."""
    from .conftest import invoke

    q = cypher.named("central_neurons")
    assert cypher.convert_param(q, "limit", str(2**63 - 1)) == 2**63 - 1
    with pytest.raises(ValidationError, match="must be an int ≥ 1 .* that fits in 64 bits; got 99999999999999999999"):
        cypher.convert_param(q, "limit", "99999999999999999999")
    for raw in ("", "[]", " , "):
        with pytest.raises(ValidationError, match="'model_ids' parameter .* must be a non-empty list"):
            cypher.convert_param(cypher.named("model_summary"), "model_ids", raw)
    res = invoke("cypher", "RETURN $x AS x", "-p", "x=99999999999999999999", "--store", "bolt://127.0.0.1:1")
    assert res.exit_code == 1 and "beyond 64 bits" in res.output and "Traceback" not in res.output, res.output
    res = invoke("db", "estimate", "--nodes", "-5", "--edges", "10", "--store", "bolt://127.0.0.1:1")
    assert res.exit_code != 0 and "--nodes" in res.output and "not reachable" not in res.output, res.output

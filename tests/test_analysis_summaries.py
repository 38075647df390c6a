"""``compare_models`` on Neo4j: through the named queries ``model_summary``,
``flow_concentration`` and ``attribution_matrix``, with the same result as on DuckDB.

Without a server the Neo4j store runs against a recording fake runner whose answers are
derived from a DuckDB store holding the same models (column names checked against the
queries' RETURN clauses; the flow concentration by a line-by-line transcription of the
Cypher). With ``NEO4J_URI`` set, the last test copies the models into a real server and
compares there."""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pandas as pd
import pytest

from nifgraph import cypher
from nifgraph.analysis.summaries import FLOW_TOP, compare_models
from nifgraph.errors import NotFoundError, StoreError
from nifgraph.nif import flow_concentration, matrices_from_edges

from .conftest import NEO4J_SKIP, neo4j_env
from .fakes import fake_neo4j_store
from .store_fixtures import make_analysis, make_dag_model, make_edges, make_model, make_run

NAMED = ("queries/model_summary", "queries/flow_concentration", "queries/attribution_matrix")
#: Statements of ``Store.resolve`` (model references -> model ids), not of the summaries.
RESOLVE = {"store/list_models", "store/list_runs", "store/get_model"}


# -- stored models ---------------------------------------------------------------------------
def _stored_models(duck):
    """Four analysed models: two on one data set (their attributions differ), one on another
    with a NaN accuracy and modularity and mostly missing edges, and a newer run that is not
    analysed; the second model has an older analysed run, a newer one with a negative and
    missing edges; a fourth is a DAG model with a skip edge."""
    ids = []
    a, na = make_model((4, 3, 2), name="alpha")
    b, nb = make_model((4, 5, 2), name="beta")
    c, nc = make_model((3, 4, 3), name="gamma")
    c = dataclasses.replace(c, dataset="other", test_accuracy=float("nan"))
    for model, neurons in ((a, na), (b, nb), (c, nc)):
        duck.put_model(model, neurons)
        ids.append(model.model_id)

    run, edges = make_run(a, seed=1)
    duck.put_run(run, edges)
    duck.put_analysis(make_analysis(a, run))

    old, edges = make_run(b, seed=2)
    duck.put_run(old, edges)
    duck.put_analysis(make_analysis(b, old))
    new, edges = make_run(b, seed=3)
    edges = edges.drop(index=[2, 7, 11]).reset_index(drop=True)
    edges.loc[4, "value"] = -0.05
    duck.put_run(new, edges)
    rng = np.random.default_rng(5)
    an = make_analysis(b, new)
    attr = an.attribution.assign(value=rng.uniform(0, 1, len(an.attribution)))
    metrics = an.neuron_metrics.assign(prunable=an.neuron_metrics["layer"].eq(1) & an.neuron_metrics["idx"].isin([1, 3]))
    duck.put_analysis(dataclasses.replace(an, attribution=attr, neuron_metrics=metrics, n_communities=3, modularity=0.41))

    run, edges = make_run(c, seed=4)
    edges = edges.iloc[[0, 5]].reset_index(drop=True)
    edges["value"] = [0.5, -0.1]
    duck.put_run(run, edges)
    duck.put_analysis(dataclasses.replace(make_analysis(c, run), modularity=float("nan")))
    later, edges = make_run(c, seed=6)  # newer, never analysed: the comparison keeps the analysed run
    duck.put_run(later, edges)

    d, nd = make_dag_model((2, 3, 3, 4))  # a skip edge: 39 edges, not the 27 of a 2-3-3-4 chain
    d = dataclasses.replace(d, name="delta", dataset="dags")
    duck.put_model(d, nd)
    ids.append(d.model_id)
    run, edges = make_edges(d, null=False, missing_value=False)
    duck.put_run(run, edges)
    duck.put_analysis(make_analysis(d, run))
    return ids


@pytest.fixture
def duck(tmp_path):
    from nifgraph.store.duckdb import DuckDBStore

    s = DuckDBStore(str(tmp_path / "cmp.duckdb"))
    yield s
    s.close()


# -- what the named queries would return, derived from the DuckDB store ----------------------
def _none(v):
    """NaN is stored as a missing property in Neo4j: it comes back as null."""
    return None if isinstance(v, float) and math.isnan(v) else v


def _newest(duck, mid):
    """The run the three queries pick: the newest analysed one, else the newest complete one."""
    runs = duck.list_runs(mid)
    analysed = [r for r in runs if duck.get_analysis(r.run_id) is not None]
    return (analysed or runs or [None])[-1]


def cypher_flow(values, sizes, top, dag=False):
    """Line-by-line transcription of cypher/queries/flow_concentration.cypher (from the ORDER BY on);
    ``dag``: the model is a DAG model (its stored edges are all the query counts)."""
    vs = sorted((v for v in values if not math.isnan(v)), reverse=True)  # ORDER BY v DESC; collect skips null
    n_stored, n_valued = len(values), len(vs)
    n_edges = n_stored if dag else sum(sizes[i] * sizes[i + 1] for i in range(len(sizes) - 1))
    k = int(math.ceil(top * n_edges))
    k = 1 if k < 1 else k
    pos, neg, zeros = [x for x in vs if x >= 0.0], [x for x in vs if x < 0.0], n_edges - n_stored
    top_sum = sum(pos[:k]) + (sum(neg[: k - len(pos) - zeros]) if k > len(pos) + zeros else 0.0)
    total = sum(vs)
    flow = None if n_edges == 0 or n_valued < n_stored or total <= 0.0 else top_sum / total
    return dict(n_edges=n_edges, n_stored=n_stored, n_top=k, top_sum=top_sum, total=total, flow_concentration=flow)


def answers_from(duck):
    """Fake answers of the store's resolve statements and of the three named queries."""
    from nifgraph.store.neo4j_records import model_props as _model_props
    from nifgraph.store.neo4j_records import run_props as _run_props

    def model_summary(p):
        rows = []
        for mid in p["model_ids"]:
            if mid not in {m.model_id for m in duck.list_models()}:
                continue
            m, r = duck.get_model(mid), _newest(duck, mid)
            a = duck.get_analysis(r.run_id) if r else None
            rows.append(dict(
                model_id=mid, name=m.name, dataset=m.dataset, architecture=m.architecture,
                layer_sizes=list(m.layer_sizes), activations=list(m.activations),
                feature_names=list(m.feature_names), class_names=list(m.class_names),
                test_accuracy=_none(m.test_accuracy), run_id=r.run_id if r else None,
                estimator=r.estimator if r else None, analysis_id=f"a-{r.run_id}" if a else None,
                n_communities=a.n_communities if a else None, modularity=_none(a.modularity) if a else None,
                n_results=len(a.neuron_metrics) if a else 0,
                n_prunable=int(a.neuron_metrics["prunable"].sum()) if a else 0,
            ))
        return sorted(rows, key=lambda r: r["model_id"])

    def flow(p):
        rows = []
        for mid in p["model_ids"]:
            r = _newest(duck, mid)
            if r is None:
                continue
            values = duck.get_edges(r.run_id)["value"].astype(float).tolist()
            rows.append(dict(model_id=mid, run_id=r.run_id,
                             **cypher_flow(values, duck.get_model(mid).layer_sizes, p["top"], duck.get_model(mid).is_dag)))
        return sorted(rows, key=lambda r: r["model_id"])

    def attribution(p):
        rows = []
        for mid in sorted(p["model_ids"]):
            m, r = duck.get_model(mid), _newest(duck, mid)
            a = duck.get_analysis(r.run_id) if r else None
            if a is None:
                continue
            for e in a.attribution.sort_values(["feature_idx", "class_idx"]).itertuples():
                rows.append(dict(model_id=mid, run_id=r.run_id, feature_idx=int(e.feature_idx),
                                 feature=m.feature_names[e.feature_idx], class_idx=int(e.class_idx),
                                 class_name=m.class_names[e.class_idx], value=_none(float(e.value))))
        return rows

    return {
        "store/list_models": lambda p: [{"model": _model_props(m)} for m in duck.list_models()],
        "store/list_runs": lambda p: [{"run": _run_props(r)} for r in duck.list_runs(p["model_id"])],
        "store/get_model": lambda p: [{"model": _model_props(duck.get_model(p["model_id"]))}],
        "queries/model_summary": model_summary,
        "queries/flow_concentration": flow,
        "queries/attribution_matrix": attribution,
    }


def fake_neo4j(duck, **overrides):
    return fake_neo4j_store(answers={**answers_from(duck), **overrides})


def _split_top_level(text):
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return [p.strip() for p in parts + [cur] if p.strip()]


def return_columns(name):
    """Column names of the final RETURN of a query file."""
    body = cypher._strip_comments(cypher.load(name).text)
    ret = body[body.rindex("RETURN") + len("RETURN"):]
    ret = re.split(r"\bORDER\s+BY\b", ret)[0]
    cols = []
    for item in _split_top_level(ret):
        m = re.search(r"\bAS\s+(\w+)\s*$", item, flags=re.S)
        cols.append(m.group(1) if m else item)
    return cols


def _assert_same(res_a, res_b):
    pd.testing.assert_frame_equal(res_a.table(), res_b.table(), check_exact=False, rtol=1e-12, atol=1e-15)
    pd.testing.assert_frame_equal(res_a.agreement, res_b.agreement, check_exact=False, rtol=1e-12)
    for sa, sb in zip(res_a.summaries, res_b.summaries, strict=True):
        np.testing.assert_array_equal(sa.attribution, sb.attribution)
        assert sa.top_features == sb.top_features


# -- tests -------------------------------------------------------------------------------
def test_fake_rows_have_the_columns_the_queries_return(duck):
    ids = _stored_models(duck)
    answers = answers_from(duck)
    params = {"queries/model_summary": {"model_ids": ids}, "queries/attribution_matrix": {"model_ids": ids},
              "queries/flow_concentration": {"model_ids": ids, "top": FLOW_TOP}}
    for name in NAMED:
        rows = answers[name](params[name])
        assert rows and all(list(r) == return_columns(name) for r in rows), name


def test_neo4j_path_runs_only_the_named_queries_with_their_declared_params(duck):
    ids = _stored_models(duck)
    neo = fake_neo4j(duck)
    compare_models(neo, [*ids, ids[0]])  # a repeated model is compared once
    calls = neo.runner.calls
    summary_calls = [(n, p) for n, p in calls if n not in RESOLVE]
    assert [n for n, _ in summary_calls] == list(NAMED)  # one round trip per query, all models at once
    for name, params in summary_calls:
        q = cypher.load(name)
        assert name.startswith("queries/") and set(params) == set(q.params), name
        assert params["model_ids"] == ids and all(isinstance(m, str) for m in params["model_ids"])
        for key, kind in q.param_types.items():
            assert isinstance(params[key], {"list": list, "float": float}[kind]), (name, key)
    assert dict(summary_calls)["queries/flow_concentration"]["top"] == FLOW_TOP == 0.1
    # nothing is read through the generic interface: no edge table, analysis or attribution
    assert {n for n, _ in calls} <= RESOLVE | set(NAMED)


def test_both_stores_give_the_same_comparison(duck):
    ids = _stored_models(duck)
    embedded = compare_models(duck, ids)
    neo = compare_models(fake_neo4j(duck), ids)
    _assert_same(embedded, neo)
    # the fixture exercises what it should: newest run, NaNs, an agreement row, a prunable share
    t = neo.table().set_index("name")
    assert t.loc["beta", "run_id"] == duck.list_runs(ids[1])[-1].run_id
    assert t.loc["gamma", "run_id"] == duck.list_runs(ids[2])[-2].run_id  # the newest analysed run
    assert t.loc["beta", "fraction_prunable"] == pytest.approx(2 / 5) and t.loc["beta", "n_communities"] == 3
    assert np.isnan(t.loc["gamma", "test_accuracy"]) and np.isnan(t.loc["gamma", "modularity"])
    assert t.loc["gamma", "flow_concentration"] == pytest.approx(0.5 / 0.4)
    dag = neo.summaries[3]
    edges = duck.get_edges(dag.run_id)["value"].to_numpy()
    assert len(edges) == 39 and dag.flow_concentration == pytest.approx(flow_concentration([edges]), rel=1e-12)
    assert list(neo.agreement[["model_a", "model_b"]].itertuples(index=False, name=None)) == [(ids[0], ids[1])]
    assert np.isfinite(neo.agreement[["spearman", "kendall"]].to_numpy()).all()
    assert neo.to_dict()["models"][1]["top_features"] == embedded.to_dict()["models"][1]["top_features"]


def test_the_cypher_flow_concentration_equals_numpys():
    """The top-k rule of flow_concentration.cypher (non-negative values, then one 0 per missing
    edge, then negative values) against compare.flow_concentration on the dense matrices."""
    rng = np.random.default_rng(0)
    cases = 0
    for sizes in ((1, 2, 1), (2, 3), (4, 3, 2), (3, 5, 4, 2)):
        n = sum(sizes[i] * sizes[i + 1] for i in range(len(sizes) - 1))
        for top in (0.01, 0.1, 0.25, 0.5, 0.9, 1.0):
            for keep in (n, max(1, n // 2), 1):
                for neg_share in (0.0, 0.3, 0.9):
                    rows = []
                    for layer in range(len(sizes) - 1):
                        for i in range(sizes[layer]):
                            for k in range(sizes[layer + 1]):
                                v = float(rng.choice([0.0, 0.25, rng.uniform(0, 1)]))
                                v = -v if rng.uniform() < neg_share else v
                                rows.append(dict(src_layer=layer, src_idx=i, dst_layer=layer + 1, dst_idx=k, value=v))
                    edges = pd.DataFrame(rows).sample(n=keep, random_state=int(rng.integers(1 << 30)))
                    want = flow_concentration(matrices_from_edges(edges, sizes, "value"), top)
                    got = cypher_flow(edges["value"].tolist(), sizes, top)["flow_concentration"]
                    if np.isnan(want):
                        assert got is None
                    else:
                        assert got == pytest.approx(want, rel=1e-12, abs=1e-15), (sizes, top, keep, neg_share)
                    cases += 1
    edges = pd.DataFrame([dict(src_layer=0, src_idx=0, dst_layer=1, dst_idx=0, value=float("nan"))])
    assert np.isnan(flow_concentration(matrices_from_edges(edges, (2, 2), "value")))
    assert cypher_flow([float("nan")], (2, 2), 0.1)["flow_concentration"] is None
    assert cases == 4 * 6 * 3 * 3


def test_unanalysed_models_fail_alike(duck):
    ids = _stored_models(duck)
    m, neurons = make_model((4, 3, 2), name="fresh")
    duck.put_model(m, neurons)
    for store in (duck, fake_neo4j(duck)):
        with pytest.raises(NotFoundError, match=f"Model {m.model_id} has no NIF run yet; run `nifgraph estimate"):
            compare_models(store, [ids[0], m.model_id])
    run, edges = make_run(m)
    duck.put_run(run, edges)  # a run, not analysed yet
    for store in (duck, fake_neo4j(duck)):
        with pytest.raises(NotFoundError, match=f"Run {run.run_id} has no analysis yet; run `nifgraph analyze"):
            compare_models(store, [m.model_id])


def test_a_run_finishing_between_the_queries_is_detected(duck):
    ids = _stored_models(duck)
    flow = answers_from(duck)["queries/flow_concentration"]
    neo = fake_neo4j(duck, **{"queries/flow_concentration": lambda p: [dict(r, run_id="r-newer") for r in flow(p)]})
    with pytest.raises(StoreError, match="changed while it was being read"):
        compare_models(neo, ids)


def test_models_without_attribution_rows_compare_with_zeros(duck):
    ids = _stored_models(duck)
    neo = fake_neo4j(duck, **{"queries/attribution_matrix": lambda p: []})
    res = compare_models(neo, ids[:1])
    assert not res.summaries[0].attribution.any()


# -- against a server --------------------------------------------------------------------
@pytest.mark.neo4j
def test_same_comparison_on_a_neo4j_server(duck):
    env = neo4j_env()
    if env is None:
        pytest.skip(NEO4J_SKIP)
    from nifgraph.store.neo4j import Neo4jStore

    ids = _stored_models(duck)
    neo = Neo4jStore(env["uri"], env["user"], env["password"])
    neo.init_schema()
    try:
        for mid in ids:
            neo.put_model(duck.get_model(mid), duck.get_neurons(mid))
            for run in duck.list_runs(mid):
                neo.put_run(run, duck.get_edges(run.run_id))
                if (an := duck.get_analysis(run.run_id)) is not None:
                    neo.put_analysis(an)
        _assert_same(compare_models(duck, ids), compare_models(neo, ids))
        got = neo.run_named("flow_concentration", {"model_ids": ids, "top": FLOW_TOP})
        assert list(got.columns) == return_columns("queries/flow_concentration")
        for r in got.itertuples():
            run = _newest(duck, r.model_id)
            m = duck.get_model(r.model_id)
            want = cypher_flow(duck.get_edges(run.run_id)["value"].tolist(), m.layer_sizes, FLOW_TOP, m.is_dag)
            assert r.run_id == run.run_id and r.n_top == want["n_top"] and r.n_stored == want["n_stored"]
            assert r.flow_concentration == pytest.approx(want["flow_concentration"], rel=1e-12)
        assert set(neo.run_named("model_summary", {"model_ids": ids}).columns) == set(return_columns("queries/model_summary"))
        assert set(neo.run_named("attribution_matrix", {"model_ids": ids}).columns) == set(return_columns("queries/attribution_matrix"))
    finally:
        for mid in ids:
            try:
                neo.delete_model(mid)
            except Exception:
                pass
        neo.close()

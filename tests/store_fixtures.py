"""Small synthetic models, runs and analyses for the store conformance suite."""

from __future__ import annotations

import numpy as np
import pandas as pd

from nifgraph.records import AnalysisRecord, ModelRecord, RunRecord, new_id


def make_model(sizes=(4, 3, 2), name="toy") -> tuple[ModelRecord, pd.DataFrame]:
    mid = new_id("m")
    model = ModelRecord(
        model_id=mid,
        name=name,
        dataset="synthetic",
        layer_sizes=tuple(sizes),
        activations=("relu",) * (len(sizes) - 2) + ("identity",),
        feature_names=tuple(f"f{i}" for i in range(sizes[0])),
        class_names=tuple(f"c{i}" for i in range(sizes[-1])),
        test_accuracy=0.9,
        train_accuracy=0.95,
        meta={"seed": 1, "hidden": list(sizes[1:-1])},
    )
    rows = []
    for layer, n in enumerate(sizes):
        role = "input" if layer == 0 else "output" if layer == len(sizes) - 1 else "hidden"
        for i in range(n):
            name_ = (
                model.feature_names[i]
                if role == "input"
                else model.class_names[i]
                if role == "output"
                else f"h{layer}_{i}"
            )
            rows.append(
                dict(model_id=mid, layer=layer, idx=i, role=role, name=name_,
                     activation="relu" if role == "hidden" else "identity",
                     mean=0.1 * i, std=1.0, zero_frac=0.0 if i else 1.0, dead=(role == "hidden" and i == 0))
            )
    return model, pd.DataFrame(rows)


def make_run(model: ModelRecord, seed=0) -> tuple[RunRecord, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    rid = new_id("r")
    rows = []
    sizes = model.layer_sizes
    for layer in range(len(sizes) - 1):
        vals = rng.uniform(0, 1, size=(sizes[layer], sizes[layer + 1]))
        vals[0, 0] = 0.0
        norm = vals / vals.max()
        for i in range(sizes[layer]):
            for k in range(sizes[layer + 1]):
                v = float(vals[i, k])
                rows.append(dict(run_id=rid, src_layer=layer, src_idx=i, dst_layer=layer + 1,
                                 dst_idx=k, value=v, relevance=v, redundancy=0.0,
                                 value_norm=float(norm[i, k]),
                                 cost=float(-np.log(norm[i, k])) if v > 0 else float("nan")))
    run = RunRecord(run_id=rid, model_id=model.model_id, estimator="mine", seed=seed,
                    n_samples=100, settings={"steps": 10, "batch_size": 32}, elapsed_s=1.5)
    return run, pd.DataFrame(rows)


def make_analysis(model: ModelRecord, run: RunRecord) -> AnalysisRecord:
    rows = []
    for layer, n in enumerate(model.layer_sizes):
        for i in range(n):
            # (1, 0): a verified prunable candidate; (1, 1): a candidate that is needed
            rows.append(dict(layer=layer, idx=i, betweenness=float(i), community=i % 2,
                             in_flow=1.0, out_flow=1.0, prunable=(layer == 1 and i == 0),
                             candidate=(layer == 1 and i < 2),
                             accuracy_drop={0: 0.0, 1: 0.25}.get(i, float("nan")) if layer == 1 else float("nan")))
    attr = pd.DataFrame(
        [dict(feature_idx=i, class_idx=j, value=float(i + j))
         for i in range(model.layer_sizes[0]) for j in range(model.layer_sizes[-1])]
    )
    return AnalysisRecord(run_id=run.run_id, engine="local", gamma=1.0, threshold=0.01,
                          modularity=0.3, n_communities=2, accuracy_before=0.9,
                          accuracy_after=0.9, neuron_metrics=pd.DataFrame(rows),
                          attribution=attr, settings={"seed": 0})


def store_analysed(store) -> tuple[ModelRecord, RunRecord]:
    """Put a synthetic model, one run and its analysis into ``store``; return (model, run)."""
    model, run, _ = put_analysed_run(store)
    return model, run


def edge_variant(kind: str, seed: int = 0) -> pd.DataFrame:
    """An edge table of a 5-7-3 model (run id ``r-x``) in the variants estimation writes: ``plain``
    (no null, no redundancy term), ``beta`` (relevance and redundancy differ from value and 0),
    ``null`` (p, q and interval on every edge), and ``everything`` (all of them, plus a missing
    value, a partly missing p-value, and a cost that is not -ln(value_norm) bit for bit)."""
    from nifgraph.flowgraph import cost_transform
    from nifgraph.records import EDGE_COLUMNS, conform

    rng = np.random.default_rng(seed)
    rows = []
    for layer, (a, b) in enumerate([(5, 7), (7, 3)]):
        src, dst = np.indices((a, b))
        rel = rng.uniform(0, 1, a * b)
        red = rng.uniform(0, 0.5, a * b) if kind in ("beta", "everything") else np.zeros(a * b)
        val = np.maximum(rel - 0.5 * red, 0.0)
        val[0] = 0.0
        norm = val / val.max()
        f = pd.DataFrame({"src_layer": layer, "src_idx": src.ravel(), "dst_layer": layer + 1, "dst_idx": dst.ravel(),
                          "value": val, "relevance": rel if kind in ("beta", "everything") else val,
                          "redundancy": red, "value_norm": norm, "cost": cost_transform(norm)})
        for c in ("p_value", "q_value", "ci_low", "ci_high"):
            f[c] = rng.uniform(0, 1, a * b) if kind in ("null", "everything") else np.nan
        if kind == "everything":
            f.loc[3, "p_value"] = np.nan  # a partly missing column
            f.loc[4, "value"] = np.nan  # a missing value
            with np.errstate(divide="ignore"):
                f["cost"] = -np.log(norm)  # -0.0 at the strongest edge, inf at 0: not the default, kept as written
        rows.append(f)
    return conform(pd.concat(rows, ignore_index=True).assign(run_id="r-x"), EDGE_COLUMNS)


#: The layers of :func:`make_dag_model`: 1 feeds 2 and, over a skip, 3.
DAG_LAYERS = [
    {"name": "input", "kind": "input", "inputs": []},
    {"name": "stem", "kind": "conv", "inputs": [0]},
    {"name": "block", "kind": "conv", "inputs": [1]},
    {"name": "head", "kind": "linear", "inputs": [1, 2]},
]


def make_dag_model(sizes=(3, 4, 5, 2)) -> tuple[ModelRecord, pd.DataFrame]:
    """A synthetic DAG model (``meta["dag"]``: :data:`DAG_LAYERS`, a skip from layer 1 to 3)."""
    from dataclasses import replace

    model, neurons = make_model(sizes=sizes, name="dag")
    return replace(model, meta={**model.meta, "dag": {"layers": DAG_LAYERS}}), neurons


def make_edges(
    model: ModelRecord, seed: int = 0, *, null: bool = True, missing_value: bool = True
) -> tuple[RunRecord, pd.DataFrame]:
    """A run of ``model`` (chain or DAG) with an edge on every joined neuron pair, in a shuffled
    order: random statistics, with ``null`` p, q (a tenth of them NaN) and interval columns, a
    zero value, with ``missing_value`` a missing value (NaN), and a cost that is not
    -ln(value_norm) bit for bit."""
    from nifgraph.records import EDGE_COLUMNS, conform, layer_table

    rng = np.random.default_rng(seed)
    rid = new_id("r")
    parts = []
    sizes = model.layer_sizes
    for b, layer in enumerate(layer_table(model)):
        for a in layer["inputs"]:
            src, dst = (x.ravel() for x in np.indices((sizes[a], sizes[b])))
            n = len(src)
            rel, red = rng.uniform(0, 1, n), rng.uniform(0, 0.5, n)
            val = np.maximum(rel - 0.5 * red, 0.0)
            val[0] = 0.0
            norm = val / val.max()
            with np.errstate(divide="ignore"):
                cost = -np.log(norm)
            f = pd.DataFrame({"run_id": rid, "src_layer": a, "src_idx": src, "dst_layer": b, "dst_idx": dst,
                              "value": val, "relevance": rel, "redundancy": red, "value_norm": norm, "cost": cost})
            for c in ("p_value", "q_value", "ci_low", "ci_high"):
                f[c] = rng.uniform(0, 1, n) if null else np.nan
            if null:
                f.loc[rng.random(n) < 0.1, "q_value"] = np.nan
            parts.append(f)
    edges = pd.concat(parts, ignore_index=True)
    if missing_value:
        edges.loc[len(edges) // 2, "value"] = np.nan
    edges = edges.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    run = RunRecord(run_id=rid, model_id=model.model_id, estimator="gcmi", seed=seed, n_samples=100,
                    settings={"significance": {"null": null}}, elapsed_s=1.0)
    return run, conform(edges, EDGE_COLUMNS)


def assert_same_bits(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """The same columns, dtypes and rows in the same order; floats bit for bit (signed zeros too),
    NaN where NaN."""
    assert list(got.columns) == list(want.columns)
    assert [str(t) for t in got.dtypes] == [str(t) for t in want.dtypes]
    assert len(got) == len(want)
    for col in want.columns:
        g, w = got[col].to_numpy(), want[col].to_numpy()
        if w.dtype == np.float64:
            assert np.array_equal(np.isnan(g), np.isnan(w)), col
            ok = ~np.isnan(w)
            assert np.array_equal(g[ok].view(np.uint64), w[ok].view(np.uint64)), col
        else:
            assert (g == w).all(), col


def put_analysed_run(store) -> tuple[ModelRecord, RunRecord, AnalysisRecord]:
    """A synthetic model, one run and its analysis written to ``store`` (and named in its
    ``_test_created`` list, where a server store has one, for clean-up)."""
    model, neurons = make_model()
    if hasattr(store, "_test_created"):
        store._test_created.append(model.model_id)
    store.put_model(model, neurons)
    run, edges = make_run(model)
    store.put_run(run, edges)
    analysis = make_analysis(model, run)
    store.put_analysis(analysis)
    return model, run, analysis

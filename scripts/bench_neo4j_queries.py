"""Browsing a big run: how long every named query (``cypher/queries``) and Bloom search phrase
(``cypher/bloom``) takes against a Neo4j server holding one run of 10^5–10^6 edges, and how many
rows it returns (all of them must be bounded by their ``$limit`` / ``$k``, never by the run).

    NEO4J_URI=bolt://localhost:7687 NEO4J_PASSWORD=… python scripts/bench_neo4j_queries.py
    python scripts/bench_neo4j_queries.py --sizes 64,1000,1000,10 --repeat 3      # 1,074,000 edges
    python scripts/bench_neo4j_queries.py --keep            # keep the model; then --model-id m-… reuses it
    python scripts/bench_neo4j_queries.py --quick           # a tiny model, one timing each (CI)

The synthetic run has significance columns (``q_value``) and an analysis (betweenness,
8 communities, a few prunable neurons, attribution), so every query has something to find.
Prints the median of ``--repeat`` timings per query with the machine's load; the model is
deleted afterwards unless ``--keep``. Without NEO4J_URI it prints "skipped" and exits 0.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def _writes_bench():
    spec = importlib.util.spec_from_file_location("bench_neo4j_writes", HERE / "bench_neo4j_writes.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def analysis_of(model, run, seed: int = 0):
    """A synthetic analysis: random betweenness, 8 communities, every 50th hidden neuron prunable."""
    from nifgraph.records import AnalysisRecord

    rng = np.random.default_rng(seed)
    rows = []
    last = model.n_layers - 1
    for layer, n in enumerate(model.layer_sizes):
        for i in range(n):
            hidden = 0 < layer < last
            rows.append(dict(layer=layer, idx=i, betweenness=float(rng.uniform()), community=i % 8,
                             in_flow=float(rng.uniform()), out_flow=float(rng.uniform()),
                             prunable=hidden and i % 50 == 0, candidate=hidden and i % 25 == 0,
                             accuracy_drop=0.0 if hidden and i % 25 == 0 else float("nan")))
    attr = pd.DataFrame([dict(feature_idx=i, class_idx=j, value=float(rng.uniform()))
                         for i in range(model.layer_sizes[0]) for j in range(model.layer_sizes[-1])])
    return AnalysisRecord(run_id=run.run_id, engine="local", gamma=1.0, threshold=0.01, modularity=0.3,
                          n_communities=8, accuracy_before=0.9, accuracy_after=0.9,
                          neuron_metrics=pd.DataFrame(rows), attribution=attr, settings={"bench": True})


def params_for(q, mid: str, args) -> dict:
    """Browsing parameters for query ``q``: bounded by --limit / --k, filtered by --alpha."""
    known = {
        "model_id": mid, "model_ids": [mid], "model_a": mid, "model_b": mid, "limit": args.limit,
        "k": args.k, "alpha": args.alpha, "feature_idx": 0, "community": 0, "min_norm": args.min_norm,
        "top": 0.1, "layer": 1, "idx": 0,
    }
    return {p: known[p] for p in q.params}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="32,300,300,10", help="layer sizes of the synthetic model (default: 102,600 edges)")
    ap.add_argument("--repeat", type=int, default=3, help="timings per query (median printed)")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--k", type=int, default=5, help="top-k edges per neuron")
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--min-norm", type=float, default=0.9)
    ap.add_argument("--model-id", help="reuse a model already in the server (from an earlier --keep)")
    ap.add_argument("--keep", action="store_true", help="keep the synthetic model afterwards")
    ap.add_argument("--only", help="comma-separated query names (e.g. queries/top_edges,bloom/flow_network)")
    ap.add_argument("--quick", action="store_true", help="a 4-16-16-3 model, one timing per query (CI)")
    args = ap.parse_args(argv)
    if args.quick:
        args.sizes, args.repeat = "4,16,16,3", 1
    uri = os.environ.get("NEO4J_URI")
    if not uri:
        print("Neo4j: skipped (set NEO4J_URI, NEO4J_USER, NEO4J_PASSWORD)")
        return 0
    from nifgraph import cypher
    from nifgraph.store.neo4j import Neo4jStore

    bench = _writes_bench()
    store = Neo4jStore.from_env(uri)
    store.init_schema()
    created = None
    try:
        if args.model_id:
            mid = args.model_id
            run = store.latest_run(mid)
        else:
            sizes = tuple(int(s) for s in args.sizes.split(","))
            model, neurons, edges, new_run = bench.synthetic(sizes)
            run = new_run()
            t = time.perf_counter()
            store.put_model_with_run(model, neurons, None, run, edges)
            created = mid = model.model_id
            store.put_analysis(analysis_of(model, run))
            print(f"wrote model {mid} ({model.architecture}, {len(edges):,} edges) with its analysis "
                  f"in {time.perf_counter() - t:.1f} s")
        print(f"model {mid}, run {run.run_id}; {bench.load()}")
        print(f"{'query':<34}{'rows':>8}{'median s':>10}{'max s':>8}")
        names = [q for q in cypher.all_queries() if q.name.startswith(("queries/", "bloom/"))]
        if args.only:
            want = set(args.only.split(","))
            names = [q for q in names if q.name in want]
        for q in names:
            params = params_for(q, mid, args)
            times, rows = [], 0
            for _ in range(args.repeat):
                t = time.perf_counter()
                rows = len(store.runner.read(q, params))
                times.append(time.perf_counter() - t)
            print(f"{q.name:<34}{rows:>8,}{statistics.median(times):>10.3f}{max(times):>8.3f}")
        print(f"done; {bench.load()}")
    finally:
        if created and not args.keep:
            store.delete_model(created)
        elif created:
            print(f"kept model {created}: --model-id {created}")
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

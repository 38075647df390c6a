"""Write throughput of the stores: edges per second of ``put_run`` (Neo4j: batched ``UNWIND …
MERGE`` in managed transactions; DuckDB: batched inserts in one transaction), for a few
batch sizes. The embedded store always runs, as a reference.

    NEO4J_URI=neo4j://localhost:7687 NEO4J_PASSWORD=… python scripts/bench_neo4j_writes.py
    python scripts/bench_neo4j_writes.py --sizes 64,256,256,10 --batch 1000,5000,20000

Without NEO4J_URI the Neo4j part prints "skipped" (exit 0). ``--quick`` uses small sizes (CI). The synthetic model is deleted afterwards.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import pandas as pd


def synthetic(sizes: tuple[int, ...], seed: int = 0):
    from nifgraph.records import ModelRecord, RunRecord, new_id

    rng = np.random.default_rng(seed)
    mid = new_id("m")
    model = ModelRecord(
        model_id=mid, name="bench", dataset="synthetic", layer_sizes=sizes,
        activations=("relu",) * (len(sizes) - 2) + ("identity",),
        feature_names=tuple(f"f{i}" for i in range(sizes[0])),
        class_names=tuple(f"c{i}" for i in range(sizes[-1])),
        test_accuracy=float("nan"), meta={"bench": True},
    )
    neurons = []
    for layer, n in enumerate(sizes):
        role = "input" if layer == 0 else "output" if layer == len(sizes) - 1 else "hidden"
        for i in range(n):
            neurons.append(dict(model_id=mid, layer=layer, idx=i, role=role, name=f"n{layer}_{i}",
                                activation="relu", mean=0.0, std=1.0, zero_frac=0.0, dead=False))
    parts = []
    for layer in range(len(sizes) - 1):
        a, b = sizes[layer], sizes[layer + 1]
        src, dst = np.indices((a, b))  # each (n_l, n_{l+1})
        v = rng.uniform(0, 1, a * b)
        parts.append(pd.DataFrame({
            "src_layer": layer, "src_idx": src.ravel(), "dst_layer": layer + 1, "dst_idx": dst.ravel(),
            "value": v, "relevance": v, "redundancy": 0.0, "value_norm": v / v.max(),
            "cost": -np.log(v / v.max()),
        }))
    edges = pd.concat(parts, ignore_index=True)

    def run():
        return RunRecord(run_id=new_id("r"), model_id=mid, estimator="bench", seed=seed)

    return model, pd.DataFrame(neurons), edges, run


def bench_store(store, sizes, batches, repeat) -> None:
    """put_model / put_run / get_edges throughput of one store, through the Store interface."""
    model, neurons, edges, new_run = synthetic(sizes)
    print(f"[{store.kind}] {store.uri}; model {model.architecture}: {len(neurons)} neurons, {len(edges)} edges")
    try:
        t = time.perf_counter()
        store.put_model(model, neurons)
        print(f"  put_model: {len(neurons) / (time.perf_counter() - t):,.0f} neurons/s")
        for batch in batches:
            store.batch_size = batch
            rates = []
            for _ in range(repeat):
                run = new_run()
                t = time.perf_counter()
                store.put_run(run, edges)
                rates.append(len(edges) / (time.perf_counter() - t))
            print(f"  put_run batch {batch:>6}: {np.median(rates):>10,.0f} edges/s (median of {repeat})")
        t = time.perf_counter()
        got = store.get_edges(run.run_id)
        print(f"  get_edges: {len(got) / (time.perf_counter() - t):,.0f} edges/s")
    finally:
        store.delete_model(model.model_id)
        store.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="32,128,128,10", help="Layer sizes, comma-separated.")
    ap.add_argument("--batch", default="1000,5000,20000", help="Batch sizes to compare.")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="Small sizes, one batch size (CI).")
    args = ap.parse_args(argv)
    if args.quick:
        args.sizes, args.batch, args.repeat = "8,32,32,4", "5000", 1
    sizes = tuple(int(s) for s in args.sizes.split(","))
    batches = [int(b) for b in args.batch.split(",")]

    # the embedded store, side by side, as a reference that always runs
    import tempfile

    from nifgraph.store.duckdb import DuckDBStore

    with tempfile.TemporaryDirectory() as tmp:
        bench_store(DuckDBStore(f"{tmp}/bench.duckdb"), sizes, batches, args.repeat)

    uri = os.environ.get("NEO4J_URI")
    if not uri:
        print("[neo4j] skipped: set NEO4J_URI (and NEO4J_USER, NEO4J_PASSWORD) to benchmark Neo4j writes")
        return 0
    from nifgraph.store.neo4j import Neo4jStore

    store = Neo4jStore.from_env(uri)
    store.init_schema()
    bench_store(store, sizes, batches, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())

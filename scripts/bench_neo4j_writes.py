"""Throughput of the stores, side by side in one run: ``put_run`` and ``get_edges`` in edges per
second, ``put_model`` in neurons per second, through the ``Store`` interface, for one or more
model sizes and batch sizes. The embedded DuckDB store always runs, as the reference.

Neo4j writes a run's edges in columnar batches (the batch's neurons matched once by their
indexed ``neuron_id``, then ``CREATE`` of the relationships, each with ``run_id``, ``value``,
``value_norm``, ``q_value``, and of one ``NIFColumns`` node with the batch's other statistics:
schema version 2, docs/neo4j.md) and reads them back as one record of columns; the driver's
Rust extension (``neo4j-rust-ext``) packs and unpacks them when installed (the header line says
whether it is). The synthetic run has a permutation null (p- and q-values on every edge) and no
redundancy term, like ``nifgraph estimate --null N``.

    NEO4J_URI=bolt://localhost:7687 NEO4J_PASSWORD=… python scripts/bench_neo4j_writes.py
    python scripts/bench_neo4j_writes.py --sizes 32,128,128,10 --sizes 64,1000,1000,10 --batch 20000

``64,1000,1000,10`` is a run of 1,074,000 edges. Without NEO4J_URI the Neo4j part prints
"skipped" (exit 0); ``--quick`` uses a small model and one batch size (CI). The header prints
the machine's load, the driver and the server's version and memory settings: rates on a shared
machine move by 2x with its load, so compare figures of one run only. The synthetic models are
deleted afterwards.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import pandas as pd


def synthetic(sizes: tuple[int, ...], seed: int = 0):
    from nifgraph.flowgraph import cost_transform
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
        q = rng.uniform(0, 1, a * b)
        norm = v / v.max()
        parts.append(pd.DataFrame({  # the columns nifgraph's estimation writes (nif.estimate_nif)
            "src_layer": layer, "src_idx": src.ravel(), "dst_layer": layer + 1, "dst_idx": dst.ravel(),
            "value": v, "relevance": v, "redundancy": 0.0, "value_norm": norm,
            "cost": cost_transform(norm), "p_value": q, "q_value": np.minimum(1.0, 2 * q),
        }))
    edges = pd.concat(parts, ignore_index=True)

    def run():
        return RunRecord(run_id=new_id("r"), model_id=mid, estimator="bench", seed=seed)

    return model, pd.DataFrame(neurons), edges, run


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f} (1 min) {five:.1f} (5 min) on {os.cpu_count()} cores"


def bench_store(store, sizes, batches, repeat) -> None:
    """put_model / put_run / get_edges throughput of one store, through the Store interface."""
    model, neurons, edges, new_run = synthetic(sizes)
    print(f"[{store.kind}] model {model.architecture}: {len(neurons):,} neurons, {len(edges):,} edges; {load()}")
    try:
        t = time.perf_counter()
        store.put_model(model, neurons)
        print(f"  put_model: {len(neurons) / (time.perf_counter() - t):>10,.0f} neurons/s")
        run = None
        for batch in batches:
            store.batch_size = batch
            rates = []
            for _ in range(repeat):
                run = new_run()
                t = time.perf_counter()
                store.put_run(run, edges)
                rates.append(len(edges) / (time.perf_counter() - t))
            print(f"  put_run batch {batch:>6}: {np.median(rates):>10,.0f} edges/s "
                  f"(median of {repeat}: {', '.join(f'{r:,.0f}' for r in rates)})")
        rates = []
        for _ in range(repeat):
            t = time.perf_counter()
            got = store.get_edges(run.run_id)
            rates.append(len(got) / (time.perf_counter() - t))
        assert len(got) == len(edges), (len(got), len(edges))
        print(f"  get_edges:          {np.median(rates):>10,.0f} edges/s "
              f"(median of {repeat}: {', '.join(f'{r:,.0f}' for r in rates)}); {load()}")
    finally:
        store.delete_model(model.model_id)


def driver_line() -> str:
    import importlib.metadata as md
    import importlib.util

    rust = importlib.util.find_spec("neo4j._rust") is not None
    return (f"neo4j driver {md.version('neo4j')}, Rust extension "
            + (f"{md.version('neo4j-rust-ext')}" if rust else "not installed (pip install neo4j-rust-ext)"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", action="append", default=None,
                    help="Layer sizes, comma-separated; repeat for several models (default 32,128,128,10).")
    ap.add_argument("--batch", default="12500", help="Batch sizes to compare, comma-separated (the store's default: 12500).")
    ap.add_argument("--repeat", type=int, default=3, help="Runs per figure (the median is printed).")
    ap.add_argument("--quick", action="store_true", help="Small sizes, one batch size (CI).")
    args = ap.parse_args(argv)
    if args.quick:
        args.sizes, args.batch, args.repeat = ["8,32,32,4"], "5000", 1
    all_sizes = [tuple(int(s) for s in arg.split(",")) for arg in (args.sizes or ["32,128,128,10"])]
    batches = [int(b) for b in args.batch.split(",")]

    uri = os.environ.get("NEO4J_URI")
    neo = None
    if uri:
        from nifgraph.store.neo4j import Neo4jStore

        neo = Neo4jStore.from_env(uri)
        neo.init_schema()
        info = neo.status()
        settings = ", ".join(f"{k}={v}" for k, v in info["settings"].items())
        print(f"[neo4j] {uri}: Neo4j {info['server_version']} {info['edition']}; {settings or 'settings not readable'}")
        print(f"[neo4j] nifgraph schema {info['schema']['version']}: NIF {{run_id, value, value_norm, q_value}} "
              "+ one NIFColumns node per batch")
        print(f"[neo4j] {driver_line()}")
    else:
        print("[neo4j] skipped: set NEO4J_URI (and NEO4J_USER, NEO4J_PASSWORD) to benchmark Neo4j")

    import tempfile

    from nifgraph.store.duckdb import DuckDBStore

    try:
        for sizes in all_sizes:
            # the embedded store, side by side, as a reference that always runs
            with tempfile.TemporaryDirectory() as tmp:
                duck = DuckDBStore(f"{tmp}/bench.duckdb")
                try:
                    bench_store(duck, sizes, batches, args.repeat)
                finally:
                    duck.close()
            if neo is not None:
                bench_store(neo, sizes, batches, args.repeat)
    finally:
        if neo is not None:
            neo.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

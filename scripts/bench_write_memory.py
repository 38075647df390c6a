"""What writing a million-edge run costs in memory, without the estimate (issue #14): the edges of
digits 64-1024-1024-10 (1,124,352, random values, the four significance columns NaN) written into a
fresh DuckDB store, one way or the other, in a fresh process each:

    python scripts/bench_write_memory.py one-frame   # nif.edges_frame(...) then store.put_run(...)
    python scripts/bench_write_memory.py streamed    # store.run_writer + nif.pair_edges, slice by slice
    python scripts/bench_write_memory.py --quick     # both, on a 64-32-32-10 network (CI: it runs)

Prints the process's peak RSS before the write and after it (``ru_maxrss``): what the write adds at
its peak. ``one-frame`` runs on any nifgraph (with ``PYTHONPATH`` at a checkout from before the
streaming writer, commit 5495eb1, it is the old write path); ``streamed`` needs the run writer.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

SIZES = (64, 1024, 1024, 10)
QUICK_SIZES = (64, 32, 32, 10)


def _model():
    from nifgraph.records import ModelRecord

    model = ModelRecord(
        model_id="m-bench", name="bench", dataset="digits", layer_sizes=SIZES,
        activations=("relu", "relu", "identity"), feature_names=tuple(f"f{i}" for i in range(SIZES[0])),
        class_names=tuple(str(c) for c in range(SIZES[-1])), test_accuracy=1.0,
    )
    rows = [
        {"model_id": model.model_id, "layer": la, "idx": i,
         "role": "input" if la == 0 else "output" if la == len(SIZES) - 1 else "hidden",
         "name": f"n{la}_{i}", "activation": "relu", "mean": 0.0, "std": 1.0, "zero_frac": 0.0, "dead": False}
        for la, n in enumerate(SIZES) for i in range(n)
    ]
    return model, pd.DataFrame(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", nargs="?", choices=["one-frame", "streamed"])
    ap.add_argument("--quick", action="store_true", help="both modes, one after the other, on a small network")
    args = ap.parse_args(argv)
    if args.quick:
        global SIZES
        SIZES = QUICK_SIZES
        return max(_write(mode) for mode in ("one-frame", "streamed"))
    if args.mode is None:
        ap.error("name a mode (one-frame or streamed), or --quick")
    return _write(args.mode)


def _write(mode: str) -> int:
    from nifgraph.nif import NifResult
    from nifgraph.records import RunRecord
    from nifgraph.store.duckdb import DuckDBStore

    rng = np.random.default_rng(0)
    vals = [rng.random((a, b)) for a, b in zip(SIZES[:-1], SIZES[1:], strict=True)]
    extras = {c: [np.full_like(v, np.nan) for v in vals] for c in ("p_value", "q_value", "ci_low", "ci_high")}
    nif = NifResult(layer_sizes=SIZES, values=vals, relevance=[v.copy() for v in vals],
                    redundancy=[np.zeros_like(v) for v in vals], extras=extras)
    model, neurons = _model()
    run = RunRecord(run_id="r-bench", model_id=model.model_id, estimator="gcmi", seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        st = DuckDBStore(str(Path(tmp) / "s.duckdb"))
        st.put_model(model, neurons)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t = time.perf_counter()
        if mode == "one-frame":
            from nifgraph.nif import edges_frame

            st.put_run(run, edges_frame(nif, run.run_id))
        else:
            from nifgraph.nif import pair_edges

            with st.run_writer(run) as w:
                for layer, v in enumerate(vals):
                    mats = {"value": v, "relevance": nif.relevance[layer], "redundancy": nif.redundancy[layer],
                            **{c: m[layer] for c, m in extras.items()}}
                    for part in pair_edges(layer, layer + 1, mats, run.run_id):
                        w.add(part)
        seconds = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        n = len(st.get_edges(run.run_id))
    print(f"{mode}: {n:,} edges written in {seconds:.1f} s; peak RSS {before / 1024:.0f} MiB before the "
          f"write, {after / 1024:.0f} MiB after: +{(after - before) / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

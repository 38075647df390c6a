"""What reading a million-edge run back for the analysis costs in memory (issue #14): the edges of
digits 64-1024-1024-10 (1,124,352, random values and q-values) stored once in a fresh DuckDB
store, then its NIF matrices built one way and the other, each in a fresh child process, side by
side in one run:

    python scripts/bench_read_memory.py [--quick] [--alpha 0.05] [--rounds 1]

* ``one-frame`` -- the code before ``Store.iter_edges`` (copied below): ``store.get_edges`` (every
  column of every edge in one frame), the alpha rule on it, ``matrices_from_edges``;
* ``streamed`` -- ``nifgraph.analysis.run_matrices``: ``iter_edges`` slices of the four or five
  columns it needs, each scattered into the dense matrices and dropped.

Each child imports, opens the store and reads the run record, then resets its peak RSS (``5`` to
``/proc/self/clear_refs``) and prints its RSS then and its peak RSS (``VmHWM``) after building the
matrices: what the read adds at its peak (the matrices themselves, 8.6 MiB at full size, are part
of both). Not ``ru_maxrss``: it keeps the high-water mark of the process before ``exec``, i.e. of
this script's process at the fork (the store just written), and it cannot be reset. Where
``clear_refs`` cannot be written the child says so and reports ``ru_maxrss`` after minus before. Both must give the same matrices bit for bit (a digest
of their bytes is compared; a difference exits with status 1). With ``--alpha`` (default 0.05,
what the analysis uses on a run with a null) and without (``--alpha none``). ``--quick`` (CI):
64-128-128-10, 25,856 edges, in seconds.

Then the same for writing the run out (``nifgraph export --format both``): ``export-frame`` (the
code before: ``get_edges``, the layer names and ``skip`` assigned on the whole frame,
``to_parquet`` and ``to_csv``) against ``export-streamed`` (``render.export.export_run``: one pass
over ``iter_edges`` slices into a Parquet writer and a CSV stream); the CSV files must be equal
byte for byte and the Parquet files must read back to the same frame.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

FULL, QUICK = (64, 1024, 1024, 10), (64, 128, 128, 10)


def _model(sizes):
    from nifgraph.records import ModelRecord

    model = ModelRecord(
        model_id="m-bench", name="bench", dataset="digits", layer_sizes=sizes,
        activations=("relu",) * (len(sizes) - 2) + ("identity",), feature_names=tuple(f"f{i}" for i in range(sizes[0])),
        class_names=tuple(str(c) for c in range(sizes[-1])), test_accuracy=1.0,
    )
    rows = [
        {"model_id": model.model_id, "layer": la, "idx": i,
         "role": "input" if la == 0 else "output" if la == len(sizes) - 1 else "hidden",
         "name": f"n{la}_{i}", "activation": "relu", "mean": 0.0, "std": 1.0, "zero_frac": 0.0, "dead": False}
        for la, n in enumerate(sizes) for i in range(n)
    ]
    return model, pd.DataFrame(rows)


def build(path: Path, sizes) -> int:
    """A store at ``path`` with one run of ``sizes`` (written through the run writer, slice by slice)."""
    from nifgraph.nif import pair_edges
    from nifgraph.records import RunRecord
    from nifgraph.store.duckdb import DuckDBStore

    rng = np.random.default_rng(0)
    model, neurons = _model(sizes)
    run = RunRecord(run_id="r-bench", model_id=model.model_id, estimator="gcmi", seed=0,
                    settings={"significance": {"null": True}})
    st = DuckDBStore(str(path))
    st.put_model(model, neurons)
    n = 0
    with st.run_writer(run) as w:
        for layer, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            mats = {"value": rng.random((a, b)), "p_value": rng.random((a, b)), "q_value": rng.random((a, b)),
                    "ci_low": np.zeros((a, b)), "ci_high": np.ones((a, b))}
            for part in pair_edges(layer, layer + 1, mats, run.run_id):
                w.add(part)
                n += len(part)
    st.close()
    return n


# -- the read before iter_edges, verbatim (analysis._significant_edges, nif.matrices_from_edges) ----
def _old_significant_edges(store, run, alpha):
    from nifgraph.errors import ValidationError

    edges = store.get_edges(run.run_id)
    if alpha is not None:
        q = edges["q_value"]
        if q.isna().all():
            raise ValidationError(
                f"Run {run.run_id} has no significance values; estimate with --null to use --alpha."
            )
        edges = edges.assign(value=np.where(q.to_numpy() <= alpha, edges["value"].to_numpy(), 0.0))
    return edges


def _old_matrices_from_edges(edges, sizes, column="value"):
    mats = [np.zeros((sizes[l], sizes[l + 1])) for l in range(len(sizes) - 1)]  # noqa: E741
    if len(edges) == 0:
        return mats
    src_l = edges["src_layer"].to_numpy()
    vals = edges[column].to_numpy(dtype=np.float64)
    for l in range(len(mats)):  # noqa: E741
        sel = src_l == l
        mats[l][edges["src_idx"].to_numpy()[sel], edges["dst_idx"].to_numpy()[sel]] = vals[sel]
    return mats


def child(mode: str, path: str, alpha: float | None) -> dict:
    from nifgraph.analysis import run_matrices
    from nifgraph.store.duckdb import DuckDBStore

    st = DuckDBStore(path, read_only=True)
    run = st.get_run("r-bench")
    model = st.get_model(run.model_id)
    st.list_runs()
    method = "VmHWM"
    try:
        Path("/proc/self/clear_refs").write_text("5")  # the peak RSS := the RSS now
        before = _status("VmRSS")
    except OSError:
        method = "ru_maxrss"
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    if mode == "one-frame":
        mats = _old_matrices_from_edges(_old_significant_edges(st, run, alpha), model.layer_sizes, "value")
    else:
        mats = run_matrices(st, run, model, alpha)
    seconds = time.perf_counter() - t
    after = _status("VmHWM") if method == "VmHWM" else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    digest = hashlib.sha256(b"".join(np.ascontiguousarray(m).tobytes() for m in mats)).hexdigest()
    return {"mode": mode, "alpha": alpha, "seconds": seconds, "before_mib": before / 1024, "after_mib": after / 1024,
            "added_mib": (after - before) / 1024, "digest": digest, "entries": int(sum(m.size for m in mats)),
            "method": method}


def export_child(mode: str, path: str, folder: str) -> dict:
    """Write the run out one way into ``folder``; the peak RSS the writing adds, and digests."""
    from nifgraph.records import layer_table
    from nifgraph.render.export import export_run
    from nifgraph.store.duckdb import DuckDBStore

    st = DuckDBStore(path, read_only=True)
    run = st.get_run("r-bench")
    model = st.get_model(run.model_id)
    Path("/proc/self/clear_refs").write_text("5")
    before = _status("VmRSS")
    t = time.perf_counter()
    out = Path(folder)
    if mode == "export-frame":  # the code before, for a chain run
        names = [la["name"] for la in layer_table(model)]
        edges = st.get_edges(run.run_id).assign(model_id=model.model_id)
        edges = edges.assign(
            src_layer_name=[names[i] for i in edges["src_layer"]], dst_layer_name=[names[i] for i in edges["dst_layer"]],
            skip=(edges["dst_layer"] - edges["src_layer"]) > 1,
        )
        out.mkdir(parents=True, exist_ok=True)
        edges.to_parquet(out / f"{run.run_id}_edges.parquet", index=False)
        edges.to_csv(out / f"{run.run_id}_edges.csv", index=False)
        del edges
    else:
        export_run(st, model, run, None, out, "both")
    seconds = time.perf_counter() - t
    after = _status("VmHWM")
    csv = hashlib.sha256((out / f"{run.run_id}_edges.csv").read_bytes()).hexdigest()
    frame = pd.read_parquet(out / f"{run.run_id}_edges.parquet")
    pq = hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()
                        + ",".join(frame.columns).encode()).hexdigest()
    return {"mode": mode, "seconds": seconds, "before_mib": before / 1024, "after_mib": after / 1024,
            "added_mib": (after - before) / 1024, "csv": csv, "parquet": pq, "rows": len(frame)}


def _status(key: str) -> int:
    """A ``/proc/self/status`` figure in KiB (``VmRSS``, ``VmHWM``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise OSError(f"no {key} in /proc/self/status")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="64-128-128-10 (25,856 edges), for CI")
    ap.add_argument("--alpha", default="both", help="a q-value cut, 'none', or 'both' (default: 0.05 and none)")
    ap.add_argument("--rounds", type=int, default=1, help="children per mode and alpha (interleaved)")
    ap.add_argument("--child", nargs=3, metavar=("MODE", "STORE", "ALPHA"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        mode, path, alpha = args.child
        if mode.startswith("export"):
            print(json.dumps(export_child(mode, path, alpha)))
        else:
            print(json.dumps(child(mode, path, None if alpha == "none" else float(alpha))))
        return 0

    sizes = QUICK if args.quick else FULL
    alphas = ["0.05", "none"] if args.alpha == "both" else [args.alpha]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.duckdb"
        t = time.perf_counter()
        n = build(path, sizes)
        print(f"{'-'.join(map(str, sizes))}: {n:,} edges stored in {time.perf_counter() - t:.1f} s "
              f"({path.stat().st_size / 2**20:.0f} MiB file); each read in a fresh process:")
        ok = True
        for alpha in alphas:
            digests = set()
            for _ in range(max(args.rounds, 1)):
                for mode in ("one-frame", "streamed"):
                    out = subprocess.run([sys.executable, __file__, "--child", mode, str(path), alpha],
                                         capture_output=True, text=True, check=False)
                    if out.returncode:
                        print(out.stdout + out.stderr, file=sys.stderr)
                        return out.returncode
                    res = json.loads(out.stdout.strip().splitlines()[-1])
                    digests.add(res["digest"])
                    what = ("RSS {:4.0f} MiB before the read, peak {:4.0f} MiB during it" if res["method"] == "VmHWM"
                            else "peak RSS {:4.0f} MiB before the read, {:4.0f} MiB after (ru_maxrss)")
                    print(f"  alpha {alpha:>4}  {mode:<9}  {what.format(res['before_mib'], res['after_mib'])}: "
                          f"+{res['added_mib']:4.0f} MiB in {res['seconds']:.2f} s")
            same = len(digests) == 1
            ok = ok and same
            print(f"  alpha {alpha:>4}  matrices {'identical' if same else 'DIFFER'} ({res['entries']:,} entries)")
        if not Path("/proc/self/clear_refs").exists():
            print("export: skipped (no /proc/self/clear_refs to reset the peak RSS)")
            return 0 if ok else 1
        print("writing the run out (export --format both), each in a fresh process:")
        digests = set()
        for r in range(max(args.rounds, 1)):
            for mode in ("export-frame", "export-streamed"):
                folder = Path(tmp) / f"{mode}-{r}"
                out = subprocess.run([sys.executable, __file__, "--child", mode, str(path), str(folder)],
                                     capture_output=True, text=True, check=False)
                if out.returncode:
                    print(out.stdout + out.stderr, file=sys.stderr)
                    return out.returncode
                res = json.loads(out.stdout.strip().splitlines()[-1])
                digests.add((res["csv"], res["parquet"]))
                print(f"  {mode:<15}  RSS {res['before_mib']:4.0f} MiB before, peak {res['after_mib']:4.0f} MiB "
                      f"while writing: +{res['added_mib']:4.0f} MiB in {res['seconds']:.1f} s")
                for f in folder.iterdir():  # room for the next child
                    f.unlink()
        same = len(digests) == 1
        ok = ok and same
        print(f"  files {'identical (CSV byte for byte, Parquet as read back)' if same else 'DIFFER'} "
              f"({res['rows']:,} edges)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

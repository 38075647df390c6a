"""What sending the critic tables to the CPU workers costs (issue #14, "Memory" and speed): every
piece of a worker call used to carry the float32 critic tables (pickled through a pipe, unpickled
into each worker); now the parent lays them out once (per variable, the training then the
held-out samples: ``nifgraph.mi._mine.critic_tables``), writes them to unnamed temporary files,
and every piece carries four small handles that the workers map and read in place
(``nifgraph.mi._parallel.shared_tables``). Both ways side by side in one run, a fresh child
process per mode:

    python scripts/bench_worker_tables.py [--quick] [--n 60000] [--width 256] [--workers 2]

One MINE call (``mi.pairwise``, the defaults otherwise) on a ``width`` × ``width`` pair of
Gaussian layers with ``--n`` samples (default 60,000, MNIST's training set size: the tables grow
with N while MINE's training barely does), ``--workers`` worker processes. Per mode it prints the
pieces and the bytes each piece's arguments pickle to, the wall time and edges/s of the call,
the parent's peak RSS and the workers' largest peak RSS (``VmHWM``; the parent's leaves out the
table files' own page-cache pages, which are memory where ``$TMPDIR`` is a tmpfs), and a digest of
the values: the two modes must agree bit for bit.

``--quick`` (CI): N = 4,000, 48 × 48, in seconds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

MODES = ("tables sent with every piece (before)", "tables mapped by the workers (default)")


def _hwm(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(mode: str, n: int, width: int, workers: int) -> dict:
    import nifgraph.mi as mi
    from nifgraph.mi import _parallel

    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, width))
    y = np.tanh(x @ rng.standard_normal((width, width)) / np.sqrt(width) + 0.5 * rng.standard_normal((n, width)))
    pool = _parallel._executor(workers)
    if mode == MODES[0]:
        pool._nifgraph_maps = False  # what every call did before: the tables pickled into each piece
    real, sizes = _parallel.shared_tables, []

    from contextlib import contextmanager

    @contextmanager
    def measured(p, tables):
        with real(p, tables) as out:
            sizes.append(len(pickle.dumps(tuple(out), protocol=pickle.HIGHEST_PROTOCOL)))
            yield out

    _parallel.shared_tables = measured
    real_pieces, cuts = _parallel.pieces, []
    _parallel.pieces = lambda *a: cuts.append(real_pieces(*a)) or cuts[-1]
    t0 = time.perf_counter()
    values = mi.pairwise(x, y, "mine", seed=0, workers=workers)
    wall = time.perf_counter() - t0
    return {
        "mode": mode, "edges": width * width, "pieces": sum(map(len, cuts)), "piece_bytes": sizes[0] if sizes else 0,
        "wall_s": wall, "parent_peak_mib": _hwm(), "worker_peak_mib": max(_hwm(p) for p in pool._processes),
        "digest": hashlib.sha256(np.ascontiguousarray(values).tobytes()).hexdigest()[:16],
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="N = 4,000, 48 x 48 (CI)")
    p.add_argument("--n", type=int, default=60_000)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.width = 4000, 48
    if args.child is not None:
        print(json.dumps(child(args.child, args.n, args.width, args.workers)))
        return 0
    rows = []
    for mode in MODES:
        cmd = [sys.executable, __file__, "--child", mode, "--n", str(args.n), "--width", str(args.width),
               "--workers", str(args.workers)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            print(out.stderr[-2000:], file=sys.stderr)
            return 1
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    r0 = rows[0]
    print(f"# critic tables for the workers: MINE, {r0['edges']:,} edges ({args.width} x {args.width}), "
          f"N = {args.n:,}, {args.workers} workers, {r0['pieces']} pieces; one fresh process per mode")
    print("| tables | pickled per piece | wall s | edges/s | parent peak RSS (MiB) | largest worker peak RSS (MiB) | values |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        same = "the reference" if r is r0 else ("bit for bit the reference" if r["digest"] == r0["digest"] else "DIFFERENT")
        print(f"| {r['mode']} | {r['piece_bytes'] / 2**20:,.2f} MiB | {r['wall_s']:.1f} | {r['edges'] / r['wall_s']:,.0f} "
              f"| {r['parent_peak_mib']:.0f} | {r['worker_peak_mib']:.0f} | digest {r['digest']}: {same} |")
    print(f"# speed-up {r0['wall_s'] / rows[1]['wall_s']:.2f}x")
    return 0 if rows[1]["digest"] == r0["digest"] else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Wall time and peak memory of the README's main job (`nifgraph run`, default Iris job,
embedded store), measured as a user sees it: a fresh process, from start to report.

    python scripts/bench_main_job.py [--quick] [--repeat N]

Prints one line per repeat and the median. Goal (issue #2): under 60 s on 2 cores.
``--quick`` runs once with the figure skipped (CI keeps the script from rotting).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_run(extra: list[str]) -> tuple[float, float, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, NIFGRAPH_STORE=str(Path(tmp) / "s.duckdb"), NIFGRAPH_OUT=str(Path(tmp) / "out"))
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "nifgraph", "run", "--json", *extra],
            env=env, capture_output=True, text=True, check=False,
        )
        wall = time.perf_counter() - t0
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if proc.returncode != 0:
            sys.exit(f"nifgraph run failed:\n{proc.stderr}")
        # ru_maxrss of children is the max over all children so far: report it as an upper bound
        return wall, max(peak_kib, before) / 1024, json.loads(proc.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    extra = ["--no-plot"] if args.quick else []
    repeat = 1 if args.quick else args.repeat
    walls = []
    for i in range(repeat):
        wall, peak_mib, out = one_run(extra)
        walls.append(wall)
        print(
            f"run {i + 1}: wall {wall:5.1f} s · peak RSS {peak_mib:6.0f} MiB · held-out accuracy "
            f"{out['test_accuracy']:.4f} · prunable {[p['name'] for p in out['prunable']]} · accuracy after "
            f"pruning {out['accuracy_after']:.4f} · communities {out['n_communities']} · "
            f"train {out['timings']['train_s']:.1f} s, NIF {out['timings']['estimate_s']:.1f} s, "
            f"analysis {out['timings']['analyze_s']:.1f} s"
        )
    print(f"median wall time {statistics.median(walls):.1f} s over {repeat} run(s) (goal < 60 s)")


if __name__ == "__main__":
    main()

"""A million edges through the main job (issue #14): ``nifgraph run`` on a wide MLP, in a fresh
process, as a user runs it; wall time per phase and the peak memory of the whole process tree.

    python scripts/bench_million.py [--quick] [--hidden 1024,1024] [--dataset digits]
                                    [--epochs 20] [--batch-size 64] [--extra '--workers 2']

Default: digits (64 inputs, 10 classes) with hidden layers 1024,1024 -> 64*1024 + 1024*1024 +
1024*10 = 1,124,352 edges, MINE with the defaults (every core), the analysis, the verified
pruning decision and the report; the figure is skipped (``--no-plot``: a static drawing of a
million edges is not something to look at; ``nifgraph plot --html`` is). Memory: the
proportional set size (PSS, ``/proc/PID/smaps_rollup``) summed over the ``nifgraph`` process and
its worker processes, sampled every 0.25 s -- forked workers share the parent's pages, which
PSS counts once; the largest single-process RSS is printed too, and both peaks once more for the
time before the analysis (train, estimate and the streamed store; the analysis reads the run back
whole), placed by the job's own phase timings (its start taken as ``total_s`` before the process
exit: off by the interpreter's shutdown). Goal: <= 10 min and <= 2 GiB.
``--quick`` (CI): hidden 128,64 (~17k edges), the same measurements.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from /proc)."""
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def _kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.stop = pid, threading.Event()
        self.peak_pss = self.peak_rss = 0
        self.peak_procs = 0
        self.samples: list[tuple[float, int, int]] = []  # (seconds since start, PSS sum, largest RSS), KiB

    def run(self) -> None:
        t0 = time.perf_counter()
        while not self.stop.is_set():
            pids = _tree(self.pid)
            pss, rss = sum(_kib(p, "Pss") for p in pids), max((_kib(p, "Rss") for p in pids), default=0)
            self.samples.append((time.perf_counter() - t0, pss, rss))
            self.peak_pss = max(self.peak_pss, pss)
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_procs = max(self.peak_procs, len(pids))
            self.stop.wait(0.25)

    def peaks_until(self, t: float) -> tuple[int, int]:
        """The peak PSS sum and largest RSS of the samples taken in the first ``t`` seconds."""
        early = [(p, r) for s, p, r in self.samples if s <= t]
        return max((p for p, _ in early), default=0), max((r for _, r in early), default=0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--hidden", default=None)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--extra", default="", help="more `nifgraph run` options, one string")
    args = ap.parse_args(argv)
    hidden = args.hidden or ("128,64" if args.quick else "1024,1024")
    cmd = [sys.executable, "-m", "nifgraph", "run", "--json", "--no-plot", "--dataset", args.dataset,
           "--hidden", hidden, "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
           *shlex.split(args.extra)]
    print(f"# {' '.join(cmd[2:])}")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start")
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, NIFGRAPH_STORE=str(Path(tmp) / "s.duckdb"), NIFGRAPH_OUT=str(Path(tmp) / "out"))
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        sampler = Sampler(proc.pid)
        sampler.start()
        out, err = proc.communicate()
        wall = time.perf_counter() - t0
        sampler.stop.set()
        sampler.join()
        store_mib = (Path(tmp) / "s.duckdb").stat().st_size / 2**20 if (Path(tmp) / "s.duckdb").exists() else 0.0
    if proc.returncode != 0:
        sys.exit(f"nifgraph run failed:\n{err[-3000:]}")
    res = json.loads(out)
    sizes = [int(v) for v in res["architecture"].split("-")]
    n_edges = sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    t = res.get("timings", {})
    print(f"network {res['architecture']}: {n_edges:,} edges; held-out accuracy {res['test_accuracy']:.3f}; "
          f"{len(res['prunable'])} prunable")
    print("| phase | seconds |")
    print("|---|---|")
    for key in ("train_s", "estimate_s", "analyze_s", "total_s"):
        if key in t:
            print(f"| {key[:-2]} | {t[key]:.1f} |")
    print(f"| whole command (process start to exit) | {wall:.1f} |")
    if "estimate_s" in t:
        print(f"estimation + storing: {n_edges / t['estimate_s']:,.0f} edges/s")
    print(f"peak memory: {sampler.peak_pss / 2**20:.2f} GiB PSS summed over up to {sampler.peak_procs} processes; "
          f"largest single RSS {sampler.peak_rss / 2**20:.2f} GiB; store file {store_mib:.0f} MiB")
    if {"total_s", "train_s", "estimate_s"} <= set(t):  # the job started total_s before the exit (about)
        pss, rss = sampler.peaks_until(wall - t["total_s"] + t["train_s"] + t["estimate_s"])
        print(f"before the analysis (train, estimate, store): peak PSS {pss / 2**20:.2f} GiB, "
              f"largest single RSS {rss / 2**20:.2f} GiB")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    ok = wall <= 600 and sampler.peak_pss <= 2 * 2**20
    print(f"goal (<= 600 s, <= 2 GiB): {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

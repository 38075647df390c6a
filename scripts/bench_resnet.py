"""NIF on every edge of a small ResNet over CIFAR-10-shaped data (synthetic 3×32×32, no
download): units, edges, time, edges/s and peak memory of the whole estimation.

    python scripts/bench_resnet.py [--quick] [--hidden 16,32,64] [--n 2000] [--estimator mine] [--schedule-before]
                                   [--conv-samples mean|positions] [--workers N]

The network is nifgraph's built-in ``resnet`` (:mod:`nifgraph.convnets`: a stem conv, one
residual block per entry of ``--hidden``, global average pooling, a linear head), trained for
``--epochs`` on synthetic images whose class adds a fixed random pattern to Gaussian noise
(so the channels carry something), then read as a DAG (:mod:`nifgraph.dag`) and estimated with
:func:`nifgraph.analysis.dag_flow.estimate_dag` -- the path ``nifgraph estimate`` takes for a
DAG model. The input layer has 3 × 32 × 32 = 3,072 pixel units, so most edges join a pixel to
a stem channel.

Memory: peak RSS of this process (``resource.getrusage``: torch, the model and everything)
before and after the estimation, that of the largest worker process the estimation started
(``VmHWM`` in ``/proc``: they stay alive for later calls), and the size of the recorded
activations (every layer's samples, reduced while the model runs:
:meth:`nifgraph.dag.FlowDag.layer_samples`).

``--quick`` (CI): 200 images, channels 2,2, MINE with 40 steps; prints the same lines.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nifgraph.analysis.dag_flow import estimate_dag  # noqa: E402
from nifgraph.convnets import train_convnet  # noqa: E402
from nifgraph.network import TrainConfig  # noqa: E402

SHAPE = (3, 32, 32)


def synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` CIFAR-10-shaped images (flat rows of 3,072 values) and their labels: Gaussian
    noise plus the class's colour (a fixed random offset per channel, so a network that
    averages over positions can read it) and a fixed random pattern, each at half the noise's
    scale."""
    rng = np.random.default_rng(seed)
    colours = np.repeat(rng.standard_normal((10, SHAPE[0])), SHAPE[1] * SHAPE[2], axis=1)  # (10, 3072)
    patterns = rng.standard_normal((10, int(np.prod(SHAPE))))
    y = rng.integers(0, 10, n)
    x = rng.standard_normal((n, patterns.shape[1])) + 0.5 * colours[y] + 0.5 * patterns[y]
    return x.astype(np.float32), y


def peak_rss_mib() -> float:
    """Peak resident memory of this process."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return kib / 1024 if sys.platform != "darwin" else kib / 2**20


def workers_peak_mib() -> tuple[int, float]:
    """(number, largest peak RSS in MiB) of this process's live children -- the estimation's
    worker processes, which stay alive for later calls -- from ``/proc`` (Linux; (0, 0) elsewhere)."""
    peaks = []
    for kids in Path("/proc/self/task").glob("*/children"):
        for pid in kids.read_text().split():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            peaks += [int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmHWM:")]
    return len(peaks), max(peaks, default=0.0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="CI size: 200 images, channels 2,2, MINE 40 steps")
    ap.add_argument("--hidden", default="16,32", help="channels per residual block")
    ap.add_argument("--n", type=int, default=2000, help="images the NIF is estimated on")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--estimator", default="mine")
    ap.add_argument("--steps", type=int, default=None, help="MINE/SMILE steps (default: the estimator's)")
    ap.add_argument("--conv-samples", default="mean", choices=("mean", "positions"))
    ap.add_argument("--workers", type=int, default=None, help="worker processes (default: every core)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--schedule-before", action="store_true",
                    help="MINE/SMILE with the stopping schedule of before the quiet-edge rule (bench_speed.SCHEDULE_BEFORE)")
    args = ap.parse_args(argv)
    if args.quick:
        args.hidden, args.n, args.epochs, args.steps = "2,2", 200, 1, args.steps or 40
    hidden = tuple(int(c) for c in args.hidden.split(","))
    options = {"steps": args.steps} if args.steps else {}
    if args.schedule_before:
        from bench_speed import SCHEDULE_BEFORE

        options.update(SCHEDULE_BEFORE)

    x, y = synthetic(args.n + args.n // 4, args.seed)
    x_tr, y_tr, x_te, y_te = x[: args.n], y[: args.n], x[args.n :], y[args.n :]
    cfg = TrainConfig(hidden=hidden, epochs=args.epochs, lr=0.003, batch_size=64, seed=args.seed, arch="resnet").validate()
    t0 = time.perf_counter()
    res = train_convnet(x_tr, y_tr, x_te, y_te, cfg, SHAPE, 10)
    train_s = time.perf_counter() - t0
    dag = res.network
    sizes = dag.layer_sizes
    n_edges = sum(sizes[a] * sizes[b] for a, b in dag.pairs)
    n_skip = sum(sizes[a] * sizes[b] for a, b in dag.pairs if b - a > 1)
    rss_before = peak_rss_mib()

    t0 = time.perf_counter()
    samples = dag.layer_samples(x_tr, args.conv_samples, seed=args.seed)
    record_s = time.perf_counter() - t0
    held = (sum(a.nbytes for a in samples.means) + sum(a.nbytes for a in samples.positions.values())) / 2**20
    del samples

    t0 = time.perf_counter()
    nif = estimate_dag(dag, x_tr, estimator=args.estimator, seed=args.seed, conv_samples=args.conv_samples,
                       workers=args.workers, **options)
    est_s = time.perf_counter() - t0
    rss_after = peak_rss_mib()
    n_workers, rss_workers = workers_peak_mib()
    load = os.getloadavg()

    print(f"bench_resnet{' --quick' if args.quick else ''}: built-in resnet, channels {args.hidden}, "
          f"synthetic {'×'.join(map(str, SHAPE))} images, {args.n} samples ({platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f})")
    print(f"  trained {args.epochs} epoch(s) in {train_s:.1f} s: held-out accuracy {res.test_accuracy:.3f} (10 classes)")
    print(f"  layers {len(sizes)} · units {sum(sizes):,} ({' '.join(map(str, sizes))}) · layer pairs {len(dag.pairs)}")
    print(f"  edges {n_edges:,} ({n_skip:,} on skip pairs) · estimator {args.estimator} "
          f"{options or '(defaults)'} · conv samples {args.conv_samples} · workers {args.workers or 'every core'}")
    print(f"  activations recorded in {record_s:.1f} s ({held:.0f} MiB of samples held)")
    print(f"  estimation {est_s:.1f} s · {n_edges / est_s:,.0f} edges/s · mean NIF {np.mean([m.mean() for m in nif.blocks.values()]):.4f} nats")
    print(f"  peak RSS {rss_before:.0f} MiB before the estimation, {rss_after:.0f} MiB after; "
          + (f"{n_workers} worker processes, the largest {rss_workers:.0f} MiB" if n_workers
             else "no worker processes (the estimation ran in this one)"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

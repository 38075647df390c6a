"""MINE on a GPU: the batched ``bmm`` step against the Triton kernel (one program per edge),
side by side in one run (issue #14's goal: >= 100k edges/s on one H100 at the accuracy
benchmark's error). Prepared as one short script for a session that is lent a GPU:

    python scripts/bench_gpu.py [--quick] [--reps 25] [--n 4000] [--warps 2,4,8]

1. The accuracy benchmark's settings (``bench_accuracy.py``: 13 tasks of known MI, ``--reps``
   data sets each, N = ``--n``, every pair of the stacked data sets in one ``pairwise`` call,
   the defaults otherwise): per kernel, wall time, edges/s, the MAE over the tasks and the
   worst task. A first, small call compiles the Triton kernel (timed apart).
2. A 256 x 256 layer pair of tanh units (65,536 edges, N = ``--n``), warm: edges/s per kernel,
   and for the Triton kernel per ``--warps`` (warps per program).

It prints the card, torch and triton versions and markdown tables to paste into
docs/estimators.md ("GPU"). ``--quick`` (CI, no GPU needed): the same code on a tiny problem,
the Triton kernel under its CPU interpreter (``TRITON_INTERPRET=1``, set here before triton
is imported) -- a check that the script runs, its speed means nothing.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUICK = "--quick" in sys.argv[1:]
if QUICK and not glob.glob("/dev/nvidia[0-9]*"):
    os.environ.setdefault("TRITON_INTERPRET", "1")  # before anything imports triton

import numpy as np  # noqa: E402

sys.path.insert(0, str(ROOT / "scripts"))
import bench_accuracy as acc  # noqa: E402

import nifgraph.mi as mi  # noqa: E402


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _accuracy(kernels, n, reps, steps_opts):
    """Rows (kernel, seconds, edges/s, MAE, worst task) at the accuracy benchmark's settings."""
    rows = []
    for k in kernels:
        opts = {"kernel": k, **steps_opts}
        _sync()
        t0 = time.perf_counter()
        names, truths, results, seconds, n_edges = acc.run(["mine"], n, reps, 0, opts, {}, {"workers": 1, "device": _device()})
        _sync()
        wall = time.perf_counter() - t0
        per = results["mine"][:-1]
        errs = [e for _, e in per]
        worst = int(np.argmax(errs))
        rows.append((k, wall, n_edges / wall, float(np.mean(errs)), f"{names[worst]} ({errs[worst]:.3f})", n_edges))
        if len(rows) == 1:
            print(f"\nAccuracy benchmark settings: N = {n}, {reps} data set(s) per task, {n_edges:,} pairs in one call\n")
            print("| kernel | seconds | edges/s | MAE (tasks) | worst task |\n|---|---|---|---|---|")
        _, wall, eps, mae, worst_task, _ = rows[-1]
        print(f"| {k} | {wall:.1f} | {eps:,.0f} | {mae:.3f} | {worst_task} |", flush=True)  # as measured: a
        # timeout still leaves the rows before it
    return rows


def _layer(kernels, warps, n, width, steps_opts):
    """Rows (kernel, warps, seconds, edges/s) on a width x width tanh layer pair, warm."""
    from nifgraph.mi import _triton

    rng = np.random.default_rng(0)
    w = rng.standard_normal((width, width)) / np.sqrt(width)
    x = np.tanh(rng.standard_normal((n, width)))
    y = np.tanh(x @ w + 0.5 * rng.standard_normal((n, width)))
    rows = []
    for k in kernels:
        for nw in (warps if k == "triton" else [None]):
            if nw is not None:
                _triton.NUM_WARPS = nw
            mi.pairwise(x[:, :8], y[:, :8], seed=0, workers=1, device=_device(), kernel=k, **steps_opts)  # warm
            _sync()
            t0 = time.perf_counter()
            mi.pairwise(x, y, seed=0, workers=1, device=_device(), kernel=k, **steps_opts)
            _sync()
            wall = time.perf_counter() - t0
            rows.append((k, nw or "-", wall, width * width / wall))
            print(f"| {k} | {nw or '-'} | {wall:.2f} | {width * width / wall:,.0f} |", flush=True)
    _triton.NUM_WARPS = 4
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes; the Triton interpreter without a GPU (CI)")
    p.add_argument("--reps", type=int, default=25)
    p.add_argument("--n", type=int, default=4000)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--warps", default="2,4,8")
    args = p.parse_args(argv)
    import torch

    try:
        import triton
    except ImportError:
        print("triton is not installed: pip install 'nifgraph[gpu]'")
        return 1
    dev = _device()
    if dev == "cpu" and not args.quick:
        print("no CUDA GPU: this benchmark measures a GPU (run --quick to check the script on a CPU)")
        return 1
    card = torch.cuda.get_device_name(0) if dev == "cuda" else "CPU (Triton interpreter: speed meaningless)"
    print(f"device: {card}; torch {torch.__version__}, triton {triton.__version__}")
    steps_opts = {}
    reps, n, width, warps = args.reps, args.n, args.width, [int(w) for w in args.warps.split(",")]
    if args.quick:
        steps_opts = {"steps": 50, "min_steps": 25, "batch_size": 32, "final_shuffles": 2}
        reps, n, width, warps = 1, 400, 2, [4]
        acc_tasks = acc.tasks
        acc.tasks = lambda: acc_tasks()[:2]  # two tasks: seconds under the interpreter
    kernels = ["bmm", "triton"]
    t0 = time.perf_counter()
    ramp = np.arange(n, dtype=float)[:, None]  # N as in the timed calls: the same compiled kernel
    try:
        mi.pairwise(ramp, ramp**0.5, seed=0, workers=1, device=dev, kernel="triton", **{**steps_opts, "steps": 25,
                    "min_steps": 25})
        print(f"first Triton call (compiles the kernel): {time.perf_counter() - t0:.1f} s")
    except Exception as exc:  # the GPU time is scarce: measure bmm anyway, and say why triton is missing
        print(f"THE TRITON KERNEL FAILED ({type(exc).__name__}): {str(exc)[-1500:]}\nmeasuring bmm only")
        kernels = ["bmm"]
    rows = _accuracy(kernels, n, reps, steps_opts)
    if len(rows) == 2:
        print(f"\nTriton / bmm: {rows[1][2] / rows[0][2]:.2f}x")
    print(f"\n{width} x {width} tanh layer pair ({width * width:,} edges), N = {n}, warm\n")
    print("| kernel | warps | seconds | edges/s |\n|---|---|---|---|")
    _layer(kernels, warps, n, width, steps_opts)
    return 0 if len(kernels) == 2 else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""What the activations held for an estimate cost in memory (issue #14, "Memory"): float64 (before)
against float32 and memory-mapped float32 (``nifgraph.network.estimation_activations``), each in a
fresh child process, side by side in one run:

    python scripts/bench_activation_memory.py [--quick] [--n 60000] [--sizes 784,1024,512,10]

A random-weight ReLU MLP (``--sizes``, default MNIST-shaped 784-1024-512-10) on ``--n`` Gaussian
inputs (default 60,000, MNIST's training set size; nothing is downloaded). Each child records
every layer's activations one way, then estimates NIF on every edge with GCMI (1.3M edges at
full size; GCMI because its cost is a few GEMMs, so the activations are what is measured, not
MINE's minutes of training). Per mode it prints:

* the anonymous and the file-backed resident memory the held activations add (``RssAnon``,
  ``RssFile`` of ``/proc/self/status``, after minus before recording): anonymous pages must stay
  in memory or swap, a map's file pages can be dropped by the OS and re-read;
* the peak resident memory of the whole child (``VmHWM``: the estimate's own working set for one
  layer pair included; it counts resident file pages too), the peak anonymous resident memory
  (``RssAnon`` sampled every 10 ms from just before recording: what must stay in memory or swap)
  and the wall time of recording and estimating;
* a digest of the NIF values: float32 must equal float64 bit for bit (the estimators take float32
  to float64 exactly, and float32 is what the network computes); the column blocks' matrix
  products and the mapped activations' row batches may round apart in the last bits, so their
  largest difference from the reference is printed where the digest differs.

"whole layers" is the estimators' working set before column blocks: every per-column transform
(float64 copy, ranks, normal scores) on a whole layer at once, emulated by one block per layer
(``nifgraph.mi._validate.BLOCK_BYTES``); "column blocks" is the default (~32 MiB blocks). The two
"--null" modes run the permutation null, whose tie-broken float64 scores of every layer are held
for the whole estimate: in memory, or in scratch files with the memory-mapped activations
(``nifgraph.significance.null_scores``); their values are compared with each other (a null
estimate runs on the scores, so it differs from the plain one).

``--quick`` (CI): 5,000 inputs, 64-128-64-10, in seconds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
from bench_read_memory import _status

MODES = ("float64, whole layers (before)", "float32, whole layers", "float32, column blocks",
         "float32, memory-mapped, column blocks", "float32, column blocks, --null",
         "float32, memory-mapped, column blocks, --null")


def _sample_peak_anon(stop: threading.Event, out: list[int]) -> None:
    """The largest ``RssAnon`` seen, read every 10 ms (Linux keeps no peak of it): the memory
    that must stay resident, where ``VmHWM`` also counts file pages the OS could drop."""
    while not stop.is_set():
        out[0] = max(out[0], _status("RssAnon"))
        stop.wait(0.01)


def child(mode: str, n: int, sizes: list[int]) -> dict:
    import contextlib

    import torch

    from nifgraph.mi import _validate
    from nifgraph.network import build_mlp, estimation_activations, from_module
    from nifgraph.nif import estimate_nif

    if "whole layers" in mode:  # one block per layer: the float64 copy of a whole layer and its transforms
        _validate.BLOCK_BYTES = 1 << 62
    null = mode.endswith("--null")  # the null's float64 scores of every layer: mapped with the activations
    os.environ["NIFGRAPH_MMAP_MIB"] = "0" if "mapped" in mode else "1e12"

    torch.manual_seed(0)
    net = from_module(build_mlp(sizes[0], sizes[1:-1], sizes[-1]))
    x = np.random.default_rng(0).standard_normal((n, sizes[0])).astype(np.float32)
    anon0, file0 = _status("RssAnon"), _status("RssFile")
    stop, peak_anon = threading.Event(), [anon0]
    sampler = threading.Thread(target=_sample_peak_anon, args=(stop, peak_anon), daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    held = (contextlib.nullcontext(net.forward_layers(x)) if mode == MODES[0]  # what the pipeline held before
            else estimation_activations(net, x, mmap_above_mib=0 if "mapped" in mode else float("inf")))
    with held as acts:
        record_s = time.perf_counter() - t0
        anon1, file1 = _status("RssAnon"), _status("RssFile")
        t0 = time.perf_counter()
        nif = estimate_nif(acts, estimator="gcmi", seed=0, null=null)
        est_s = time.perf_counter() - t0
    stop.set()
    sampler.join()
    values = np.concatenate([v.ravel() for v in nif.values])
    return {
        "mode": mode, "held_mib": sum(a.nbytes for a in acts) / 2**20,
        "anon_mib": (anon1 - anon0) / 1024, "file_mib": (file1 - file0) / 1024,
        "peak_mib": _status("VmHWM") / 1024, "peak_anon_mib": peak_anon[0] / 1024, "record_s": record_s, "estimate_s": est_s,
        "digest": hashlib.sha256(values.tobytes()).hexdigest()[:16], "edges": int(values.size),
        "sample": values[:: max(1, values.size // 20_000)].tolist(),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="5,000 inputs, 64-128-64-10 (CI)")
    p.add_argument("--n", type=int, default=60_000)
    p.add_argument("--sizes", default="784,1024,512,10")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.sizes = 5000, "64,128,64,10"
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.child is not None:
        print(json.dumps(child(args.child, args.n, sizes)))
        return 0
    rows = []
    for mode in MODES:
        out = subprocess.run([sys.executable, __file__, "--child", mode, "--n", str(args.n), "--sizes", args.sizes],
                             capture_output=True, text=True, check=False)
        if out.returncode != 0:
            print(out.stderr[-2000:], file=sys.stderr)
            return 1
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    edges = rows[0]["edges"]
    print(f"# activations held for an estimate: {'-'.join(map(str, sizes))} ReLU MLP, N = {args.n:,}, "
          f"{edges:,} edges, GCMI; one fresh process per mode")
    print("| activations | held (MiB) | anonymous RSS added (MiB) | file-backed RSS added (MiB) | peak RSS of the process (MiB) "
          "| peak anonymous RSS (MiB) | record s | estimate s | values |")
    print("|---|---|---|---|---|---|---|---|---|")
    status = 0
    for r in rows:
        first = rows[MODES.index(MODES[4] if r["mode"].endswith("--null") else MODES[0])]  # a null run: its values
        diff = float(np.abs(np.asarray(r["sample"]) - np.asarray(first["sample"])).max())  # are on tie-broken scores
        if r is first:
            same = f"digest {r['digest']}: the reference" + (" of the null runs" if r["mode"] == MODES[4] else "")
        elif r["digest"] == first["digest"]:
            same = f"digest {r['digest']}: bit for bit the reference"
        else:
            same = f"max abs difference {diff:.1e} nats on every {max(1, edges // 20_000)}th edge"
            # float32 of the same layers must be exact; blocks and batched maps may round the last bits
            status |= 1 if r["mode"] == MODES[1] or diff > 1e-9 else 0
        print(f"| {r['mode']} | {r['held_mib']:.0f} | {r['anon_mib']:.0f} | {r['file_mib']:.0f} | {r['peak_mib']:.0f} "
              f"| {r['peak_anon_mib']:.0f} | {r['record_s']:.1f} | {r['estimate_s']:.1f} | {same} |")
    return status


if __name__ == "__main__":
    raise SystemExit(main())

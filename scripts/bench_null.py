"""What the permutation null costs: wall time of a NIF run with and without ``null=True``.

Usage::

    python scripts/bench_null.py [--quick] [--estimator mine] [--draws 1000] [--repeats 3]

One 64 -> 32 layer pair at N = 2000: inputs ~ N(0, 1), the layer a ReLU of a random sparse
mixture of them plus noise (so about half its values are ties at 0, as in a real network).
``estimate_nif`` runs on it with the default estimator (MINE, default options) without the
null, then with the pooled permutation null (``--draws`` draws, 1000 by default); the
ratio of wall times is the null's overhead (goal: at most 2). ``--quick`` times one
repetition of MINE only (under a minute on 2 cores); the full mode repeats ``--repeats``
times (alternating the order) and adds KSG and Gaussian-copula rows. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from nifgraph.nif import estimate_nif


def layer_pair(n: int = 2000, a: int = 64, b: int = 32, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, a))
    w = rng.standard_normal((a, b)) * (rng.random((a, b)) < 0.1)  # sparse mixing
    q = np.maximum(x @ w + 0.5 * rng.standard_normal((n, b)), 0.0)
    return [x, q]


def _time(acts, estimator: str, null: bool, draws: int, seed: int) -> tuple[float, object]:
    t = time.perf_counter()
    res = estimate_nif(acts, estimator=estimator, seed=seed, null=null, null_draws=draws)
    return time.perf_counter() - t, res


def bench(estimator: str, draws: int, repeats: int, acts) -> dict:
    plain, with_null = [], []
    res = None
    for r in range(repeats):
        order = (False, True) if r % 2 == 0 else (True, False)
        for null in order:
            dt, out = _time(acts, estimator, null, draws, seed=r)
            (with_null if null else plain).append(dt)
            if null:
                res = out
    p_plain, p_null = float(np.median(plain)), float(np.median(with_null))
    sig = res.significance
    q = res.extras["q_value"][0]
    return {
        "estimator": estimator,
        "edges": int(acts[0].shape[1] * acts[1].shape[1]),
        "null_draws": sig["null_draws"][0],
        "wall_s_without_null": p_plain,
        "wall_s_with_null": p_null,
        "ratio": p_null / p_plain,
        "runs": {"without": plain, "with": with_null},
        "null_q95_nats": sig["null_q95"][0],
        "significant_edges_q_le_0.05": int((q <= 0.05).sum()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one repetition, MINE only (< 60 s)")
    ap.add_argument("--estimator", default="mine")
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    acts = layer_pair()
    t0 = time.perf_counter()
    rows = [bench(args.estimator, args.draws, 1 if args.quick else args.repeats, acts)]
    if not args.quick:
        for est in ("ksg", "gcmi"):
            if est != args.estimator:
                rows.append(bench(est, args.draws, args.repeats, acts))
    out = {
        "layer_pair": "64 x 32, N = 2000",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "quick": args.quick,
        "results": rows,
        "total_s": time.perf_counter() - t0,
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

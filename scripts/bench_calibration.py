"""Calibration and power of the permutation null (docs/significance.md, "Calibration and power").

    python scripts/bench_calibration.py [--quick] [--estimators gcmi,ksg3,ksg6,mine]

The layer of ``tests/test_significance.py`` (``planted_layer``, data seed 11): x = independent
ReLU-like columns with zero fractions cycling through 0/50/90/98 % plus Gaussian sources; q =
independent ReLU-like columns plus one planted partner per source with MI 0.05 nats; N = 2000.
Every other edge is independent. For each row, ``estimate_nif(..., null=True)`` and:

* share of null edges with p < 0.05, overall, "tied" (one end >= 90 % zeros) and "smooth"
  (both ends continuous), with the 99 % binomial band around 0.05 for that many edges;
* power: share of planted edges with p < 0.05 and with BH q <= 0.05;
* the false-discovery share among the null edges (q <= 0.05), and the null's 95th percentile.

Rows (estimator, layer, draws, seeds) are those of the table in docs/significance.md: gcmi on
the wider layer (40 + 40 x, 30 + 40 q) with M = 4000, seeds 3 and 4; KSG k = 3 (seed 3) and
k = 6 (seeds 3, 4) and MINE with the defaults (seeds 3, 4, 5) on 20 + 20, 15 + 20 with M = 1000.
``--quick`` (CI): one seed per estimator. Wall seconds per row are printed (one process, the
estimators' default workers).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nifgraph.nif import estimate_nif  # noqa: E402
from tests.test_significance import ALPHA, band, planted_layer  # noqa: E402 - the tests' layer

# label -> (estimator, options, (tied x, tied q), planted, null draws, seeds)
ROWS = {
    "gcmi": ("gcmi", {}, (40, 30), 40, 4000, (3, 4)),
    "ksg3": ("ksg", {"k": 3}, (20, 15), 20, 1000, (3,)),
    "ksg6": ("ksg", {"k": 6}, (20, 15), 20, 1000, (3, 4)),
    "mine": ("mine", {}, (20, 15), 20, 1000, (3, 4, 5)),
}
NAMES = {"gcmi": "gcmi (M = 4000)", "ksg3": "ksg, k = 3", "ksg6": "ksg, k = 6", "mine": "mine (defaults)"}


def row(label: str, seed: int) -> str:
    estimator, opts, tied, planted, draws, _ = ROWS[label]
    x, q, plant, fx, fq = planted_layer(*tied, planted, seed=11)
    t = time.perf_counter()
    res = estimate_nif([x, q], estimator=estimator, seed=seed, null=True, null_draws=draws, **opts)
    wall = time.perf_counter() - t
    p, qv = res.extras["p_value"][0], res.extras["q_value"][0]
    heavy = (fx[:, None] >= 0.9) | (fq[None, :] >= 0.9)
    smooth = (fx[:, None] == 0) & (fq[None, :] == 0)

    def share(mask: np.ndarray) -> str:
        s = float(np.mean(p[mask] < ALPHA))
        lo, hi = band(int(mask.sum()))
        return f"{s:.3f}" + ("" if lo <= s <= hi else " (outside the 99 % band)")

    null = ~plant
    return (f"| {NAMES[label]} | {seed} | {int(null.sum())} | {share(null)} | {share(heavy & null)} "
            f"| {share(smooth & null)} | {np.mean(p[plant] < ALPHA):.2f} | {np.mean(qv[plant] <= ALPHA):.2f} "
            f"| {np.mean(qv[null] <= ALPHA):.3f} | {res.significance['null_q95'][0]:.4f} | {wall:.1f} |")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="one seed per estimator (CI)")
    p.add_argument("--estimators", default=",".join(ROWS), help=f"rows to run, from {','.join(ROWS)}")
    args = p.parse_args(argv)
    labels = [s.strip() for s in args.estimators.split(",") if s.strip()]
    bad = [s for s in labels if s not in ROWS]
    if bad:
        p.error(f"unknown estimator row(s) {', '.join(bad)}: choose from {', '.join(ROWS)}")
    print(f"# permutation-null calibration and power; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for n in (1380, 560, 5560):
        lo, hi = band(n)
        print(f"# 99 % binomial band around 0.05 for {n} edges: [{lo:.3f}, {hi:.3f}]")
    print("| estimator | seed | null edges | share p < 0.05 | tied | smooth | power p < 0.05 | power q ≤ 0.05 "
          "| null edges with q ≤ 0.05 | null q95 (nats) | wall s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for label in labels:
        seeds = ROWS[label][-1]
        for seed in seeds[:1] if args.quick else seeds:
            print(row(label, seed), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""MINE's stopping schedule (issue #14): the defaults (evaluations every 25 steps, patience 6, at
least 100 steps, and the quiet-edge rule: an edge whose best held-out bound is below 0.01 nats
stops after one evaluation without gain) against the schedule of before them (every 50 steps,
patience 3, at least 200 steps, every edge alike; ``bench_speed.SCHEDULE_BEFORE``).

    python scripts/bench_schedule.py [--quick] [--seeds 8] [--workers N] [--parts abc]

(a) ``bench_accuracy.py``'s 13 tasks (3 data sets each, N = 4000) for ``--seeds`` benchmark seeds:
    MAE, worst task, mean training steps per edge (all 1,404 live pairs of the call);
(b) weak dependence, where an early stop would hurt first: Gaussian pairs with rho 0 to 0.4
    (MI 0 to 0.087 nats, around the quiet threshold and the 0.02-nat prunable rule), 16 data
    sets each, N = 300, 1000 and 4000: mean estimate and mean |error| per rho;
(c) trained networks (``bench_screen.network``: iris 4-16-8-3, digits 64-32-16-10) with the
    pooled null: CPU seconds (one worker), Spearman of the edge values, the largest difference,
    significance (q <= 0.05) and prunable decisions that flip; next to it the same schedule run
    with another estimator seed, the flips that the seed alone causes.
``--parts c`` runs only the parts named. ``--quick`` (CI): one seed, N = 1000 only with 4 data sets per rho, iris only.
"""

from __future__ import annotations

import argparse
import math
import os
import time

import bench_accuracy as ba
import numpy as np
from bench_screen import dead_units, flat, network, significant
from bench_speed import SCHEDULE_BEFORE
from scipy import stats

import nifgraph.mi as mi
from nifgraph.analysis.local import prunable
from nifgraph.mi import _mine
from nifgraph.nif import estimate_nif

SCHEDULES = {"before": SCHEDULE_BEFORE, "now (defaults)": {}}
RHOS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4)


def accuracy(seeds, workers) -> None:
    print(f"\n# (a) bench_accuracy tasks, N = 4000, 3 data sets per task, seeds 0-{seeds - 1}")
    print("| schedule | MAE per seed | mean MAE | worst task (largest error) | mean steps per edge |")
    print("|---|---|---|---|---|")
    for name, sched in SCHEDULES.items():
        maes, worst, steps = [], (0.0, ""), []
        for s in range(seeds):
            names, _, res, _, _ = ba.run(["mine"], 4000, 3, s, {**sched, "workers": workers}, {})
            steps.append(float(_mine.LAST_RUN["steps"].mean()))
            errs = [e for _, e in res["mine"][: len(names) - 1]]
            maes.append(float(np.mean(errs)))
            i = int(np.argmax(errs))
            worst = max(worst, (errs[i], f"{names[i]}, seed {s}"))
        print(f"| {name} | {', '.join(f'{m:.3f}' for m in maes)} | {np.mean(maes):.4f} | {worst[0]:.3f} ({worst[1]}) "
              f"| {np.mean(steps):.0f} |")


def weak(ns, reps, workers) -> None:
    truth = [-0.5 * math.log(1 - r * r) for r in RHOS]
    print(f"\n# (b) weak dependence: Gaussian pairs, {reps} data sets per rho; mean estimate (mean |error|)")
    print("| N | schedule | " + " | ".join(f"rho {r} ({t:.3f})" for r, t in zip(RHOS, truth, strict=True))
          + " | mean steps |")
    print("|---|---|" + "---|" * len(RHOS) + "---|")
    for n in ns:
        rng = np.random.default_rng(1)
        x = rng.standard_normal((n, len(RHOS) * reps))
        rho = np.repeat(RHOS, reps)
        y = rho * x + np.sqrt(1 - rho**2) * rng.standard_normal(x.shape)
        for name, sched in SCHEDULES.items():
            est = np.diag(mi.pairwise(x, y, "mine", seed=0, workers=workers, edges=np.eye(x.shape[1], dtype=bool),
                                      **sched))
            steps = float(_mine.LAST_RUN["steps"].mean())
            cells = [f"{est[rho == r].mean():.3f} ({np.abs(est[rho == r] - t).mean():.3f})"
                     for r, t in zip(RHOS, truth, strict=True)]
            print(f"| {n} | {name} | " + " | ".join(cells) + f" | {steps:.0f} |")


def _compare(a, b, dead) -> str:
    """Table cells for two NIF results of one network: Spearman, largest difference, flips."""
    va, vb = flat(a.values), flat(b.values)
    sa, sb = significant(a), significant(b)
    pr = [prunable(n.values, dead, threshold=0.02) for n in (a, b)]
    pq = [prunable([v * s for v, s in zip(n.values, sig, strict=True)], dead, threshold=0.0)
          for n, sig in ((a, sa), (b, sb))]
    n_hidden = int(sum(a.layer_sizes[1:-1]))
    return (f"{stats.spearmanr(va, vb).statistic:.3f} | {np.abs(va - vb).max():.3f} "
            f"| {np.mean(flat(sa) != flat(sb)):.1%} | {int((pr[0] != pr[1]).sum())}/{n_hidden} "
            f"| {int((pq[0] != pq[1]).sum())}/{n_hidden}")


def networks(nets) -> None:
    """Before against now (seed 0), and, as the yardstick of what a change of schedule moves,
    now against now with another estimator seed (1): the flips a user sees from the seed alone."""
    print("\n# (c) trained networks, MINE with the pooled null, one worker (CPU seconds of this process)")
    print("| network | edges | comparison | CPU s | speed-up | Spearman | max abs diff | significance flips "
          "| prunable flips (0.02 rule) | prunable flips (q rule) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    runs = (("before", 0, SCHEDULE_BEFORE), ("now", 0, {}), ("now", 1, {}))
    for name, hidden, epochs in nets:
        acts, acc = network(name, hidden, epochs)
        dead = dead_units(acts)
        got = {}
        for label, seed, sched in runs:
            c0 = time.process_time()
            nif = estimate_nif(acts, estimator="mine", seed=seed, null=True, workers=1, device="cpu", **sched)
            got[label, seed] = (nif, time.process_time() - c0)
        (old, t_old), (new, t_new), (new1, t_new1) = (got[r[:2]] for r in runs)
        head = f"| {name} {'-'.join(str(a.shape[1]) for a in acts)} (accuracy {acc:.3f}) | {flat(new.values).size}"
        print(f"{head} | before -> now, seed 0 | {t_old:.1f} -> {t_new:.1f} | {t_old / t_new:.2f}x "
              f"| {_compare(old, new, dead)} |")
        print(f"{head} | now, seed 0 -> seed 1 | {t_new:.1f} -> {t_new1:.1f} | - | {_compare(new, new1, dead)} |")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="one seed, one N, iris only (CI)")
    p.add_argument("--seeds", type=int, default=8)
    p.add_argument("--workers", type=int, default=None, help="(a), (b): worker processes (default: every core)")
    p.add_argument("--parts", default="abc", help="which parts to run, e.g. 'c' (default: abc)")
    args = p.parse_args(argv)
    print(f"# MINE's stopping schedule, before and now; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    t0 = time.perf_counter()
    if "a" in args.parts:
        accuracy(1 if args.quick else args.seeds, args.workers)
    if "b" in args.parts:
        weak((1000,) if args.quick else (300, 1000, 4000), 4 if args.quick else 16, args.workers)
    if "c" in args.parts:
        networks([("iris", (16, 8), 200)] + ([] if args.quick else [("digits", (32, 16), 60)]))
    print(f"\n{time.perf_counter() - t0:.0f} s in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The figures of docs/significance.md that no other script prints: interval coverage, what the
null's tie-breaking does to the values, and the Iris agreement example.

    python scripts/bench_significance.py [--quick] [--parts a,b,c]

(a) **Interval coverage.** 72 Gaussian edges (12 each at rho in {0, 0.1, 0.2, 0.3, 0.5, 0.7}),
    N = 2000, one ``estimate_nif(..., bootstrap=B, seed=i)`` call per edge i: its half-sample interval [ci_low, ci_high]
    against the true MI -1/2 ln(1 - rho^2), for gcmi (B = 30) and KSG (B = 20); coverage
    overall and the lowest per rho.
(b) **Tie-breaking.** The 64 -> 32 layer pair of ``bench_null.py`` (about half zeros per
    neuron): a plain run against a ``null=True`` run (tie-broken normal scores) for MINE,
    KSG and gcmi: the ratio of the sums of the 100 largest plain edges (null-run values over
    plain ones, same edges), and the Spearman correlation of all edges; beside it, the Spearman
    correlation of two plain runs with seeds 0 and 1 (the estimator's own seed-to-seed spread).
(c) **Agreement** (``nifgraph.analysis.agreement``): Iris 4-5-3 as ``nifgraph run`` trains it
    (seed 0, held-out split of ``load_dataset``), gcmi and KSG runs, both with the null: the
    Spearman correlation, the significant counts, the decision agreement and the flips.

``--quick`` (CI): 12 edges in (a), MINE left out of (b), so it runs in well under a minute.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_null import layer_pair  # noqa: E402 - the null benchmark's layer

from nifgraph.analysis.agreement import agreement  # noqa: E402
from nifgraph.data import load_dataset  # noqa: E402
from nifgraph.network import TrainConfig, train_mlp  # noqa: E402
from nifgraph.nif import edges_frame, estimate_nif  # noqa: E402

RHOS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7)


def coverage(estimator: str, half_samples: int, per_rho: int, n: int = 2000, seed: int = 0) -> dict:
    """Share of Gaussian edges whose half-sample interval holds the true MI."""
    rng = np.random.default_rng(seed)
    rhos = np.repeat(RHOS, per_rho)
    x = rng.standard_normal((n, rhos.size))
    y = rhos * x + np.sqrt(1 - rhos**2) * rng.standard_normal((n, rhos.size))
    lo, hi = np.empty(rhos.size), np.empty(rhos.size)
    for i in range(rhos.size):  # one edge per call (a layer pair of 72 x 72 would estimate 72x the pairs)
        res = estimate_nif([x[:, i:i + 1], y[:, i:i + 1]], estimator=estimator, bootstrap=half_samples, seed=seed + i)
        lo[i], hi[i] = res.extras["ci_low"][0][0, 0], res.extras["ci_high"][0][0, 0]
    truth = -0.5 * np.log1p(-(rhos**2))
    inside = (lo <= truth) & (truth <= hi)
    by_rho = {f"{r:g}": float(inside[rhos == r].mean()) for r in RHOS}
    low = min(by_rho, key=by_rho.get)
    return {"estimator": estimator, "half_samples": half_samples, "edges": int(rhos.size),
            "coverage": float(inside.mean()), "lowest": {"rho": float(low), "coverage": by_rho[low]},
            "by_rho": by_rho}


def tie_breaking(estimator: str, acts: list[np.ndarray], top: int = 100) -> dict:
    plain = estimate_nif(acts, estimator=estimator, seed=0).values[0].ravel()
    broken = estimate_nif(acts, estimator=estimator, seed=0, null=True).values[0].ravel()
    other_seed = estimate_nif(acts, estimator=estimator, seed=1).values[0].ravel()
    idx = np.argsort(plain)[::-1][:top]
    return {"estimator": estimator, f"top{top}_ratio": float(broken[idx].sum() / plain[idx].sum()),
            "spearman": float(spearmanr(plain, broken).statistic),
            "spearman_seed_0_vs_1": float(spearmanr(plain, other_seed).statistic)}


def iris_agreement() -> dict:
    ds = load_dataset("iris", seed=0)
    net = train_mlp(ds.x_train, ds.y_train, ds.x_test, ds.y_test, TrainConfig(seed=0),
                    n_classes=ds.n_classes).network
    acts = net.forward_layers(ds.x_train)
    runs = {e: edges_frame(estimate_nif(acts, estimator=e, seed=0, null=True), e) for e in ("gcmi", "ksg")}
    names = [list(ds.feature_names), [f"h1_{i}" for i in range(net.layer_sizes[1])], list(ds.class_names)]
    ag = agreement(runs["gcmi"], runs["ksg"], run_a="gcmi", run_b="ksg")
    flips = [
        {"edge": f"{names[r.src_layer][r.src_idx]} -> {names[r.dst_layer][r.dst_idx]}",
         "gcmi": float(r.value_a), "ksg": float(r.value_b), "significant_in": "gcmi" if r.significant_a else "ksg"}
        for r in ag.flips.itertuples()
    ]
    return {"model": "iris " + "-".join(map(str, net.layer_sizes)), "edges": ag.n_edges,
            "spearman": ag.spearman, "significant": {"gcmi": ag.n_significant_a, "ksg": ag.n_significant_b},
            "decision_agreement": ag.decision_agreement, "flips": flips}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="CI: 12 edges in (a), no MINE in (b)")
    ap.add_argument("--parts", default="a,b,c")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    t0 = time.perf_counter()
    out: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} CPU cores", "quick": args.quick}
    if "a" in parts:
        per_rho = 2 if args.quick else 12
        out["coverage"] = [coverage("gcmi", 30, per_rho), coverage("ksg", 20, per_rho)]
    if "b" in parts:
        acts = layer_pair()
        ests = ("ksg", "gcmi") if args.quick else ("mine", "ksg", "gcmi")
        out["tie_breaking"] = [tie_breaking(e, acts) for e in ests]
    if "c" in parts:
        out["agreement"] = iris_agreement()
    out["total_s"] = time.perf_counter() - t0
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

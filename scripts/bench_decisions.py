"""Decisions users can act on: pruning orders under the mean-fold removal, and safe
recommendations on a wide layer.

Usage::

    python scripts/bench_decisions.py [--quick] [--train-seeds 5] [--prune-seeds 5] [--json out.json]

Part 1, pruning curves. For each network (wine 13-32-16-3, breast-cancer 30-32-16-2,
digits 64-128-64-10; split seed 0, ``train_mlp`` with ``--epochs`` epochs, one network per
training seed) every order of :func:`nifgraph.analysis.pruning.prune_curves` is run under the mean-fold
removal with the training split as reference and the test split as judge, ``--prune-seeds``
seeds each. The AUC of a network is the area under its seed-averaged curve; the table gives
the mean over training seeds with a 95 % t-interval, and the paired difference of the default
order against magnitude and random (wins = training seeds on which the default is higher).
NIF for the ``nif`` order is Gaussian-copula MI on the training split (closed form, fast).

Part 2, safe recommendation. A random-weight 64-32-3 ReLU network (torch default init,
inputs ~ N(0, 1), labels = its own argmax) with 3 dead units and 1 constant unit (output
2.0, non-zero outgoing weights) on 2000 samples: the first 1000 are the reference, the last
1000 the held-out judge. Candidates = the flow rule on per-edge estimates with a pooled
permutation null (q ≤ 0.05 kept, as ``--null``) ∪ the unit-level tests; then
:func:`nifgraph.analysis.recommend.recommend`. The check: the recommended set never costs more than
the tolerance. Estimators: gcmi, ksg, mine (``--quick``: gcmi, ksg).

``--quick`` (CI): wine and breast-cancer, 2 training seeds, 3 pruning seeds, 60 epochs,
gcmi and ksg; about 20 s on one core. Prints tables; ``--json`` also writes every number.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy import stats  # noqa: E402

from nifgraph import mi  # noqa: E402
from nifgraph.analysis.local import prunable  # noqa: E402
from nifgraph.analysis.pruning import DEFAULT_PRUNE_METHOD, hidden_neurons, prune_curves  # noqa: E402
from nifgraph.analysis.recommend import DEFAULT_TOLERANCE, recommend  # noqa: E402
from nifgraph.analysis.removal import unit_means  # noqa: E402
from nifgraph.analysis.unit_information import unit_information  # noqa: E402
from nifgraph.data import load_dataset  # noqa: E402
from nifgraph.network import TrainConfig, accuracy, build_mlp, from_module, pruned, train_mlp  # noqa: E402
from nifgraph.significance import (  # noqa: E402
    bh_qvalues,
    pairwise_with_null,
    permutation_pvalues,
    tie_broken_scores,
)

NETWORKS = {"wine": (32, 16), "breast-cancer": (32, 16), "digits": (128, 64)}
METHODS = ("greedy_kl", "std_wout", "mi_output", "nif", "magnitude", "random")


def t_interval(v: np.ndarray) -> tuple[float, float]:
    """Mean and half-width of the 95 % t-interval (NaN half-width for one value)."""
    v = np.asarray(v, dtype=np.float64)
    if v.size < 2:
        return float(v.mean()), float("nan")
    return float(v.mean()), float(stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))


def curves_for(name: str, hidden: tuple[int, ...], seed: int, epochs: int, prune_seeds: int) -> dict:
    ds = load_dataset(name, seed=0)
    cfg = TrainConfig(hidden=hidden, epochs=epochs, lr=0.01, batch_size=16, seed=seed)
    res = train_mlp(ds.x_train, ds.y_train, ds.x_test, ds.y_test, cfg, n_classes=ds.n_classes)
    net = res.network
    acts = net.forward_layers(ds.x_train)
    mats = [mi.pairwise(acts[i], acts[i + 1], "gcmi") for i in range(len(acts) - 1)]
    t = time.perf_counter()
    curves = prune_curves(
        net, mats, ds.x_test, ds.y_test, seeds=prune_seeds, methods=METHODS, reference=ds.x_train
    )
    return {
        "test_accuracy": res.test_accuracy, "auc": {m: curves.auc(m) for m in METHODS},
        "curves_s": time.perf_counter() - t,
    }


def part1(datasets, train_seeds: int, prune_seeds: int, epochs: int) -> dict:
    out = {}
    for name in datasets:
        hidden = NETWORKS[name]
        runs = [curves_for(name, hidden, s, epochs, prune_seeds) for s in range(train_seeds)]
        aucs = {m: np.array([r["auc"][m] for r in runs]) for m in METHODS}
        ds = load_dataset(name, seed=0)
        arch = "-".join(map(str, (ds.n_features, *hidden, ds.n_classes)))
        out[name] = {
            "architecture": arch, "train_seeds": train_seeds, "prune_seeds": prune_seeds,
            "test_accuracy": [r["test_accuracy"] for r in runs],
            "curves_s": [r["curves_s"] for r in runs],
            "auc": {m: a.tolist() for m, a in aucs.items()},
            "vs": {
                base: {
                    "diff": (aucs[DEFAULT_PRUNE_METHOD] - aucs[base]).tolist(),
                    "wins": int(np.sum(aucs[DEFAULT_PRUNE_METHOD] > aucs[base])),
                }
                for base in ("magnitude", "random")
            },
        }
    return out


def print_part1(res: dict) -> None:
    names = list(res)
    head = f"{'method':<12}" + "".join(f"{n + ' ' + res[n]['architecture']:>30}" for n in names)
    print("Pruning-curve AUC (mean over training seeds ± 95 % t-interval; * = default order)")
    print(head)
    for m in METHODS:
        cells = []
        for n in names:
            mean, hw = t_interval(np.array(res[n]["auc"][m]))
            cells.append(f"{mean:.3f} ± {hw:.3f}")
        label = f"{m}{' *' if m == DEFAULT_PRUNE_METHOD else ''}"
        print(f"{label:<12}" + "".join(f"{c:>30}" for c in cells))
    for base in ("magnitude", "random"):
        cells = []
        for n in names:
            mean, hw = t_interval(np.array(res[n]["vs"][base]["diff"]))
            cells.append(f"{mean:+.3f} ± {hw:.3f} ({res[n]['vs'][base]['wins']}/{res[n]['train_seeds']})")
        print(f"{'Δ vs ' + base:<12}" + "".join(f"{c:>30}" for c in cells))
    accs = [f"{np.mean(res[n]['test_accuracy']):.3f}" for n in names]
    print(f"{'test acc':<12}" + "".join(f"{a:>30}" for a in accs))
    print()


def wide_net(seed: int = 0, n: int = 2000):
    torch.manual_seed(seed)
    mod = build_mlp(64, [32], 3).eval()
    with torch.no_grad():
        mod[0].bias[[3, 11, 20]] = -100.0  # dead units
        mod[0].weight[7] = 0.0  # constant unit: relu(2.0) = 2.0, outgoing weights kept
        mod[0].bias[7] = 2.0
    net = from_module(mod)
    x = np.random.default_rng(seed).standard_normal((n, 64)).astype(np.float32)
    return net, x, net.predict(x)


def flow_candidates(acts, estimator: str, seed: int, alpha: float = 0.05) -> list[tuple[int, int]]:
    """The flow rule on per-edge estimates with a pooled permutation null (as ``--null``)."""
    z = [tie_broken_scores(a, seed + i) for i, a in enumerate(acts)]
    opts = {"threads": 1} if estimator == "mine" else {}
    mats, pvals = [], []
    for i in range(len(z) - 1):
        rel, null, _ = pairwise_with_null(z[i], z[i + 1], estimator, 1000, seed=seed, **opts)
        mats.append(rel)
        pvals.append(permutation_pvalues(rel, null) if null.size else np.ones_like(rel))
    q = bh_qvalues(np.concatenate([p.ravel() for p in pvals]))
    cuts = np.cumsum([p.size for p in pvals])[:-1]
    kept = [np.where(qq.reshape(m.shape) <= alpha, m, 0.0) for qq, m in zip(np.split(q, cuts), mats, strict=True)]
    dead = np.concatenate([np.all(a == a[:1], axis=0) for a in acts])
    flat = prunable(kept, dead, threshold=0.0)
    sizes = [a.shape[1] for a in acts]
    nodes = [(layer, i) for layer, n in enumerate(sizes) for i in range(n)]
    return [nodes[k] for k in np.flatnonzero(flat)]


def part2(estimators) -> list[dict]:
    net, x, y = wide_net()
    x_ref, x_val, y_val = x[:1000], x[1000:], y[1000:]
    acts = net.forward_layers(x_ref)
    ui = unit_information(acts)
    means = unit_means(net, x_ref)
    before = accuracy(net, x_val, y_val)
    rows = []
    for est in estimators:
        t = time.perf_counter()
        flow = flow_candidates(acts, est, seed=0)
        cands = list(dict.fromkeys([*flow, *ui.candidates]))
        rec = recommend(net, cands, x_ref, x_val, y_val)
        rows.append({
            "estimator": est, "n_hidden": len(hidden_neurons(net.layer_sizes)),
            "flow_candidates": len(flow), "unit_candidates": len(ui.candidates), "candidates": len(cands),
            "recommended": len(rec.recommended), "rejected": len(rec.rejected),
            "rejected_drops": [round(r.drop_alone, 4) for r in rec.rejected],
            "accuracy_before": before, "accuracy_after": rec.accuracy_after,
            "flow_all_zeroed": accuracy(pruned(net, flow), x_val, y_val) if flow else before,
            "flow_all_folded": accuracy(pruned(net, flow, means=means), x_val, y_val) if flow else before,
            "ok": rec.accuracy_before - rec.accuracy_after <= DEFAULT_TOLERANCE + 1e-12,
            "seconds": time.perf_counter() - t,
        })
    return rows


def print_part2(rows: list[dict]) -> None:
    print(f"Safe recommendation, random-weight 64-32-3 ReLU (3 dead + 1 constant unit), tolerance {DEFAULT_TOLERANCE}")
    print(f"{'estimator':<10}{'flow cand':>10}{'unit cand':>10}{'recommended':>12}{'rejected':>9}"
          f"{'acc before':>11}{'acc after':>10}{'flow zeroed':>12}{'flow folded':>12}{'ok':>5}{'s':>7}")
    for r in rows:
        print(f"{r['estimator']:<10}{r['flow_candidates']:>10}{r['unit_candidates']:>10}{r['recommended']:>12}"
              f"{r['rejected']:>9}{r['accuracy_before']:>11.3f}{r['accuracy_after']:>10.3f}"
              f"{r['flow_all_zeroed']:>12.3f}{r['flow_all_folded']:>12.3f}{str(r['ok']):>5}{r['seconds']:>7.1f}")
    print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--train-seeds", type=int, default=5)
    ap.add_argument("--prune-seeds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    if args.quick:
        datasets, train_seeds, prune_seeds, epochs = ["wine", "breast-cancer"], 2, 3, 60
        estimators = ["gcmi", "ksg"]
    else:
        datasets, train_seeds, prune_seeds, epochs = list(NETWORKS), args.train_seeds, args.prune_seeds, args.epochs
        estimators = ["gcmi", "ksg", "mine"]
    res1 = part1(datasets, train_seeds, prune_seeds, epochs)
    print_part1(res1)
    res2 = part2(estimators)
    print_part2(res2)
    wall = time.perf_counter() - t0
    print(f"wall {wall:.1f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"pruning": res1, "recommendation": res2, "wall_s": wall, "quick": args.quick}, f, indent=1)
    if not all(r["ok"] for r in res2):
        raise SystemExit("a recommendation cost more than its tolerance")


if __name__ == "__main__":
    main()

"""Screening (issue #14): how much the two-stage mode (a GCMI screen, only its candidates to
MINE) changes the results of full MINE, and how much faster it is.

Usage::

    python scripts/bench_screen.py [--quick] [--alphas 0.05,0.2] [--workers N] [--json out.json]

For each network (iris 4-16-8-3, digits 64-32-16-10; ``--quick``: iris and digits 64-16-10;
split seed 0, ``train_mlp``), NIF is estimated with MINE on all samples, without and with the
pooled permutation null (``null=True``, 1000 draws, as ``--null``), once in full and once per
screen ``alpha``. Reported per network and alpha:

* candidates: the share of live edges the screen sends to MINE;
* speed-up: cost of the full estimate over the screened one, without and with the null (whose
  draws are never screened): CPU seconds with the default ``--workers 1`` (wall time on this
  shared machine varied 1.8x between identical runs), wall seconds with more workers;
* rank correlation (Spearman) of the edge values, screened vs full, over live edges (runs
  without the null);
* max |difference| on the screened-out edges (their GCMI value against full MINE's);
* significance flips: edges whose decision q ≤ 0.05 differs;
* prunable flips: hidden neurons whose flow-rule decision differs, with the threshold rule
  (0.02 nats, runs without the null) and with the significance filter (q ≤ 0.05, threshold 0,
  the default for runs with the null).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
from scipy import stats

from nifgraph.analysis.local import prunable
from nifgraph.data import load_dataset
from nifgraph.network import TrainConfig, train_mlp
from nifgraph.nif import estimate_nif


def network(name: str, hidden: tuple[int, ...], epochs: int):
    ds = load_dataset(name, seed=0)
    cfg = TrainConfig(hidden=hidden, epochs=epochs, lr=0.01, batch_size=16, seed=0)
    res = train_mlp(ds.x_train, ds.y_train, ds.x_test, ds.y_test, cfg, n_classes=ds.n_classes)
    x, _ = ds.split("all")
    return res.network.forward_layers(x), res.test_accuracy


def flat(mats) -> np.ndarray:
    return np.concatenate([np.asarray(m, dtype=np.float64).ravel() for m in mats])


def dead_units(acts) -> np.ndarray:
    return np.concatenate([np.ptp(a, axis=0) == 0 for a in acts])


def run(acts, workers, null, **kw):
    """The estimate and its cost: CPU seconds of this process with one worker (robust on a
    loaded machine), else wall seconds."""
    t0, c0 = time.perf_counter(), time.process_time()
    nif = estimate_nif(acts, estimator="mine", seed=0, null=null, workers=workers, device="cpu", **kw)
    return nif, (time.process_time() - c0) if workers == 1 else (time.perf_counter() - t0)


def significant(nif, alpha: float = 0.05) -> list[np.ndarray]:
    return [q <= alpha for q in nif.extras["q_value"]]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="iris and a small digits network (CI)")
    p.add_argument("--alphas", default="0.05,0.2", help="screen p-value cuts, comma-separated")
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes (default 1: times are CPU seconds of this process; more: wall seconds)")
    p.add_argument("--json", default=None, help="also write every number here")
    args = p.parse_args(argv)
    alphas = [float(a) for a in args.alphas.split(",")]
    nets = [("iris", (16, 8), 200), ("digits", (16,) if args.quick else (32, 16), 60)]
    unit = "CPU s, one worker" if args.workers == 1 else f"wall s, {args.workers or 'all'} workers"
    print(f"# screening: GCMI screen -> MINE, with the pooled null; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores; times in {unit}")
    print("| network | edges | alpha | sent to MINE | speed-up | speed-up with the null | Spearman "
          "| max abs diff (screened out) | significance flips | prunable flips (0.02 rule) | prunable flips (q rule) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    warm = np.random.default_rng(0).standard_normal((200, 2))  # load the compiled loop outside the timings
    estimate_nif([warm, warm], estimator="mine", seed=0, workers=1, device="cpu")
    for name, hidden, epochs in nets:
        acts, acc = network(name, hidden, epochs)
        sizes = "-".join(str(a.shape[1]) for a in acts)
        dead = dead_units(acts)
        live = flat([(np.ptp(a, 0) > 0)[:, None] & (np.ptp(b, 0) > 0)[None, :] for a, b in zip(acts[:-1], acts[1:], strict=True)]).astype(bool)
        full, t_full = run(acts, args.workers, False)
        full_n, t_full_n = run(acts, args.workers, True)
        sig_f = significant(full_n)
        pr_f = prunable(full.values, dead, threshold=0.02)
        pq_f = prunable([v * s for v, s in zip(full_n.values, sig_f, strict=True)], dead, threshold=0.0)
        hidden_n = int(sum(full.layer_sizes[1:-1]))
        for alpha in alphas:
            scr, t_scr = run(acts, args.workers, False, screen="gcmi", screen_alpha=alpha)
            scr_n, t_scr_n = run(acts, args.workers, True, screen="gcmi", screen_alpha=alpha)
            sig_s = significant(scr_n)
            vf, vs = flat(full.values), flat(scr.values)
            out = flat(scr.extras["screened"]).astype(bool)
            pr_s = prunable(scr.values, dead, threshold=0.02)
            pq_s = prunable([v * s for v, s in zip(scr_n.values, sig_s, strict=True)], dead, threshold=0.0)
            row = {
                "network": f"{name} {sizes}", "test_accuracy": acc, "edges": int(vf.size), "live_edges": int(live.sum()),
                "alpha": alpha, "sent": float((live & ~out).sum() / max(live.sum(), 1)),
                "t_full_s": t_full, "t_screen_s": t_scr, "speedup": t_full / t_scr,
                "t_full_null_s": t_full_n, "t_screen_null_s": t_scr_n, "speedup_null": t_full_n / t_scr_n,
                "spearman": float(stats.spearmanr(vf[live], vs[live]).statistic),
                "max_abs_diff_out": float(np.abs(vf[out] - vs[out]).max()) if out.any() else 0.0,
                "mean_full_value_out": float(vf[out].mean()) if out.any() else 0.0,
                "out_over_0.05_nats": int((vf[out] > 0.05).sum()),
                "significance_flips": float(np.mean(flat(sig_f) != flat(sig_s))),
                "significant_full": int(flat(sig_f).sum()),
                "prunable_flips_threshold": int((pr_f != pr_s).sum()),
                "prunable_flips_significance": int((pq_f != pq_s).sum()),
                "prunable_full": [int(pr_f.sum()), int(pq_f.sum())],
                "hidden_neurons": hidden_n,
            }
            rows.append(row)
            print(f"| {row['network']} | {row['edges']} | {alpha} | {row['sent']:.0%} | {row['speedup']:.2f}x "
                  f"({t_full:.1f} s -> {t_scr:.1f} s) | {row['speedup_null']:.2f}x ({t_full_n:.1f} s -> {t_scr_n:.1f} s) "
                  f"| {row['spearman']:.3f} | {row['max_abs_diff_out']:.3f} (full mean there "
                  f"{row['mean_full_value_out']:.3f}; {row['out_over_0.05_nats']} above 0.05) "
                  f"| {row['significance_flips']:.1%} ({row['significant_full']} significant in full) "
                  f"| {row['prunable_flips_threshold']}/{hidden_n} | {row['prunable_flips_significance']}/{hidden_n} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

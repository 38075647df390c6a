"""Speed of the batched MINE estimator against the naive one-network-per-edge loop.

Usage::

    python scripts/bench_speed.py [--quick] [--naive-edges 16] [--mine '{"chunk_size": 256}']
                                  [--workers N] [--device cuda] [--ray local|auto|HOST:PORT|none]

(a) naive: one ``torch.nn`` critic (2 -> hidden -> 1) and one Adam optimiser per edge, trained
    one edge after another for the same number of steps and batch size as the batched
    estimator's step budget, estimate = mean DV bound over the last 100 steps (what public
    single-pair MINE code does); timed on ``--naive-edges`` edges, reported as edges/s;
(b) ``nifgraph.mi.pairwise(x, y, "mine")`` on all 64 x 32 = 2048 edges of a synthetic layer
    pair (N = 2000);
(c) KSG and GCMI on the same pair;
(d) full mode only: an MLP 64-256-128-10 trained briefly on scikit-learn's digits, every
    edge of every layer pair (~50k) estimated with MINE, wall time and peak memory;
(e) scale (issue #14), side by side in one run: the batched torch step of before
    (``kernel="bmm"``) and the compiled CPU loop (the default), each on ``workers=1`` and on
    every core (or ``--workers``), the cheaper schedule (``CHEAP``) and the stopping schedule
    of before the quiet-edge rule (``SCHEDULE_BEFORE``): edges/s and mean
    |error| on the ground-truth edges; with ``--device cuda`` also the GPU;
(f) Ray (issue #14, when ``ray`` is installed; also in ``--quick``): the same edges as Ray tasks
    on ``--ray`` (default ``local``: a Ray instance on this machine, every core), edges/s and
    speed-up over (e)'s ``workers=1``, and the largest difference from the local values.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import time

import numpy as np
import torch

import nifgraph.mi as mi
from nifgraph.mi import _mine

N_TRUE = 8
#: The cheaper schedule measured in issue #14 (not the default: see docs/estimators.md).
CHEAP = {"min_steps": 100, "eval_every": 25, "batch_size": 64, "final_shuffles": 8}
#: The stopping schedule before the quiet-edge rule (issue #14): evaluations every 50 steps,
#: patience 3, at least 200 steps, every edge alike.
SCHEDULE_BEFORE = {"eval_every": 50, "patience": 3, "min_steps": 200, "quiet_below": 0.0}
#: The critic's defaults before issue #14's rank inputs and averaged weights (one input per
#: variable, the weights themselves evaluated, lr 0.01, 4 eval shuffles), with the stopping
#: schedule of then: the "old schedule".
BEFORE_CRITIC = {"rank_input": False, "ema": 0.0, "lr": 0.01, "eval_shuffles": 4, **SCHEDULE_BEFORE}
RHOS = np.linspace(0.2, 0.95, N_TRUE)


def layer_pair(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list]:
    """x (n, 64) independent inputs; y (n, 32) with a mix of dependences.

    y[:, k] = rho_k x[:, k] + noise for k < 8 (known MI on edge (k, k), 0 on (i != k, k));
    the rest are ReLU / tanh / square of random sparse mixtures of x plus noise; 2 are dead.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 64))
    y = np.empty((n, 32))
    truth = []
    for k, rho in enumerate(RHOS):
        y[:, k] = rho * x[:, k] + math.sqrt(1 - rho * rho) * rng.standard_normal(n)
        truth.append((k, k, -0.5 * math.log(1 - rho * rho)))
        truth.append(((k + 9) % 64, k, 0.0))
    for j in range(N_TRUE, 30):
        w = rng.standard_normal(64) * (rng.random(64) < 0.1)
        z = x @ w + 0.5 * rng.standard_normal(n)
        y[:, j] = (np.maximum(z, 0), np.tanh(z), z * z)[j % 3]
    y[:, 30:] = 0.0  # dead units
    return x, y, truth


class _Critic(torch.nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(2, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1)
        )

    def forward(self, x, y):
        return self.net(torch.cat([x, y], 1)).squeeze(1)


def naive_mine(x, y, steps, batch, hidden, lr, seed=0, ma_rate=0.01) -> float:
    """One edge, the usual way: own module, own optimiser, moving-average DV loss."""
    torch.manual_seed(seed)
    xt = torch.as_tensor(x, dtype=torch.float32).unsqueeze(1)
    yt = torch.as_tensor(y, dtype=torch.float32).unsqueeze(1)
    net = _Critic(hidden)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    ma, hist = None, []
    for _ in range(steps):
        idx = torch.randint(len(xt), (batch,))
        xb, yb = xt[idx], yt[idx]
        ym = yb[torch.randperm(batch)]
        tj, tm = net(xb, yb), net(xb, ym)
        emean = tm.exp().mean()
        ma = emean.detach() if ma is None else (1 - ma_rate) * ma + ma_rate * emean.detach()
        loss = -(tj.mean() - emean / ma)  # gradient of the corrected DV bound
        opt.zero_grad()
        loss.backward()
        opt.step()
        hist.append(float(tj.detach().mean() - torch.log(emean.detach())))
    return float(np.mean(hist[-100:]))


def _ranks(a):
    from scipy.special import ndtri
    from scipy.stats import rankdata

    return ndtri(rankdata(a) / (len(a) + 1))


def bench_layer_pair(args, mine_opts) -> None:
    x, y, truth = layer_pair(args.n)
    d = mi.describe("mine")
    steps, batch, hidden, lr = (mine_opts.get(k, d[k]) for k in ("steps", "batch_size", "hidden", "lr"))
    print(f"# layer pair 64 x 32 = 2048 edges, N = {args.n}, torch threads = {torch.get_num_threads()}")
    print(f"MINE defaults: {json.dumps({k: v for k, v in d.items() if k != 'summary'})}")
    print(f"MINE options given: {json.dumps(mine_opts)}")

    naive_edges = truth[: args.naive_edges] if args.naive_edges <= len(truth) else truth
    t0, c0 = time.perf_counter(), time.process_time()
    naive = [naive_mine(_ranks(x[:, i]), _ranks(y[:, j]), steps, batch, hidden, lr, seed=s)
             for s, (i, j, _) in enumerate(naive_edges)]
    t_naive, c_naive = time.perf_counter() - t0, time.process_time() - c0
    eps_naive, ceps_naive = len(naive_edges) / t_naive, len(naive_edges) / c_naive
    print(f"(a) naive, one network per edge, {steps} steps of batch {batch}: "
          f"{len(naive_edges)} edges in {t_naive:.1f} s wall / {c_naive:.1f} s CPU = "
          f"{eps_naive:.2f} edges/s wall, {ceps_naive:.2f} edges per CPU-s")

    t0, c0 = time.perf_counter(), time.process_time()
    est = mi.pairwise(x, y, "mine", seed=0, **mine_opts)
    t_b, c_b = time.perf_counter() - t0, time.process_time() - c0
    eps_b, ceps_b = 2048 / t_b, 2048 / c_b
    steps_taken = _mine.LAST_RUN.get("steps", np.zeros(1))
    print(f"(b) batched nifgraph.mi.pairwise('mine'): 2048 edges in {t_b:.1f} s wall / "
          f"{c_b:.1f} s CPU = {eps_b:.1f} edges/s wall, {ceps_b:.1f} edges per CPU-s "
          f"(steps per edge: mean {steps_taken.mean():.0f}, max {steps_taken.max():.0f})")
    print(f"    speed-up: {eps_b / eps_naive:.0f}x wall, {ceps_b / ceps_naive:.0f}x CPU time")

    # the like-for-like figure: batched with early stopping off (every edge runs all `steps`
    # steps, as the naive loop does), so the ratio measures batching alone
    cols = 16 if args.quick else x.shape[1]
    fixed = {**mine_opts, "min_steps": steps}
    t0, c0 = time.perf_counter(), time.process_time()
    mi.pairwise(x[:, :cols], y, "mine", seed=0, **fixed)
    t_f, c_f = time.perf_counter() - t0, time.process_time() - c0
    n_f = cols * y.shape[1]
    eps_f, ceps_f = n_f / t_f, n_f / c_f
    print(f"(b') batched, early stopping off ({steps} steps for every edge): {n_f} edges in {t_f:.1f} s wall / "
          f"{c_f:.1f} s CPU = {eps_f:.1f} edges/s wall, {ceps_f:.1f} edges per CPU-s")
    print(f"    speed-up from batching alone, same steps and batch size: {eps_f / eps_naive:.0f}x wall, "
          f"{ceps_f / ceps_naive:.0f}x CPU time; early stopping adds {eps_b / eps_f:.1f}x")

    print("\nground-truth edges: (i, j)  true   naive  batched")
    err_n, err_b = [], []
    for k, (i, j, t) in enumerate(truth):
        nv = max(naive[k], 0.0) if k < len(naive) else float("nan")
        print(f"  ({i:2d},{j:2d})  {t:.3f}  {nv:6.3f}  {est[i, j]:.3f}")
        if k < len(naive):
            err_n.append(abs(nv - t))
        err_b.append(abs(est[i, j] - t))
    print(f"mean |error|: naive {np.mean(err_n):.3f} (on {len(err_n)} edges), "
          f"batched {np.mean(err_b):.3f} (on {len(err_b)} edges)")
    print(f"dead units' edges exactly 0: {bool(np.all(est[:, 30:] == 0))}")

    for m in ("ksg", "gcmi"):
        t0 = time.perf_counter()
        mi.pairwise(x, y, m)
        dt = time.perf_counter() - t0
        print(f"(c) {m}: 2048 edges in {dt:.2f} s = {2048 / dt:.0f} edges/s")


def bench_digits(mine_opts) -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    xd = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    yd = torch.tensor(digits.target)
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 10),
    )
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(30):  # a few epochs of full-batch training
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(xd), yd)
        loss.backward()
        opt.step()
    with torch.no_grad():
        h1 = net[1](net[0](xd))
        h2 = net[3](net[2](h1))
        out = net[4](h2)
    acc = float((out.argmax(1) == yd).float().mean())
    layers = [xd, h1, h2, out]
    n_edges = sum(a.shape[1] * b.shape[1] for a, b in zip(layers[:-1], layers[1:], strict=True))
    print(f"\n# digits MLP 64-256-128-10 (train accuracy {acc:.2f}), N = {len(xd)}, "
          f"{n_edges} edges")
    t0, c0 = time.perf_counter(), time.process_time()
    for k, (a, b) in enumerate(zip(layers[:-1], layers[1:], strict=True)):
        t1 = time.perf_counter()
        est = mi.pairwise(a, b, "mine", seed=0, **mine_opts)
        print(f"  layer {k}->{k + 1}: {est.size} edges in {time.perf_counter() - t1:.1f} s, "
              f"mean MI {est.mean():.4f}, max {est.max():.3f}, zero {np.mean(est == 0):.2f}")
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB -> GiB
    print(f"(d) digits end to end: {wall:.0f} s wall, {cpu:.0f} s CPU ({n_edges / wall:.0f} edges/s), "
          f"peak RSS {peak:.2f} GiB")


def bench_scale(args, mine_opts) -> None:
    """(e) edges/s side by side: the old batched torch step (``kernel="bmm"``) and the compiled
    loop (the default on a CPU), each on workers=1 and on every core, and the cheaper schedule."""
    import os

    from nifgraph.mi._parallel import cpu_count

    x, y, truth = layer_pair(args.n)
    if args.quick:
        x = x[:, :32]  # 1024 edges: still large enough to use the workers
    truth = [(i, j, t) for i, j, t in truth if i < x.shape[1]]
    n_edges = x.shape[1] * y.shape[1]
    workers = args.workers or cpu_count()
    print(f"\n# (e) scale: {x.shape[1]} x {y.shape[1]} = {n_edges} edges, N = {args.n}, "
          f"{cpu_count()} cores; one torch thread per worker; load average {os.getloadavg()[0]:.1f}")
    rows = []
    bmm = {"kernel": "bmm"}
    cases = [("bmm step, critic of before #14", {**bmm, **BEFORE_CRITIC}, 1, "cpu"), ("bmm step", bmm, workers, "cpu"),
             ("default (compiled loop)", {}, 1, "cpu"), ("default (compiled loop)", {}, workers, "cpu"),
             ("compiled loop, critic of before #14", BEFORE_CRITIC, workers, "cpu"),
             ("cheap schedule", CHEAP, workers, "cpu"),
             ("compiled loop, schedule of before the quiet rule", SCHEDULE_BEFORE, workers, "cpu")]
    if mi.resolve_device(args.device).startswith("cuda"):
        cases += [("default", {}, 1, args.device), ("cheap", CHEAP, 1, args.device)]
    rounds = 1 if args.quick else args.rounds
    walls: list[list[float]] = [[] for _ in cases]
    ests: list[np.ndarray] = [np.empty(0)] * len(cases)
    for _name, sched, w, dev in cases:  # warm-up: compile, start the worker processes
        opts = {**mine_opts, **sched}
        mi.pairwise(x[:, :2], y[:, :2], "mine", seed=0, workers=w, device=dev, **opts)
        if w > 1:  # start the worker processes outside the timing (a short call on >= 1024 edges)
            short = {**opts, "steps": 50, "min_steps": 50, "eval_every": 50}
            mi.pairwise(x[:, :32], y, "mine", seed=0, workers=w, device=dev, **short)
    # rounds interleave the cases, so a slow spell of the machine (a shared VM's CPU speed varies
    # by tens of per cent from minute to minute) hits every case alike; median and best reported
    for _ in range(rounds):
        for c, (_name, sched, w, dev) in enumerate(cases):
            opts = {**mine_opts, **sched}
            t0 = time.perf_counter()
            ests[c] = mi.pairwise(x, y, "mine", seed=0, workers=w, device=dev, **opts)
            walls[c].append(time.perf_counter() - t0)
    for c, (name, _, w, dev) in enumerate(cases):
        err = float(np.mean([abs(ests[c][i, j] - t) for i, j, t in truth]))
        eps = n_edges / np.median(walls[c])
        rows.append((name, w, dev, eps, err, ests[c], n_edges / min(walls[c])))
    print(f"{rounds} round(s), cases interleaved; edges/s = edges / median wall (best round in brackets); "
          f"load average now {os.getloadavg()[0]:.1f}")
    print("| step | workers | device | edges/s (wall) | mean abs error (truth edges) |")
    print("|---|---|---|---|---|")
    for name, w, dev, eps, err, _, best in rows:
        print(f"| {name} | {w} | {dev} | {eps:.0f} ({best:.0f}) | {err:.3f} |")
    same = float(np.abs(rows[2][5] - rows[3][5]).max())
    print(f"workers=1 vs {workers}: max |difference| {same:.1e} (the values do not depend on the workers); "
          f"defaults on {workers} workers vs the bmm step with the critic of before #14 on 1: "
          f"{rows[3][3] / rows[0][3]:.2f}x; defaults on {workers} workers vs 1: {rows[3][3] / rows[2][3]:.2f}x; "
          f"the critic of before #14 on the compiled loop, {workers} workers: "
          f"{rows[4][3] / rows[3][3]:.2f}x the defaults' speed (and their accuracy: docs/estimators.md); "
          f"the quiet-edge rule and its schedule: {rows[3][3] / rows[6][3]:.2f}x the schedule of before it")
    return x, y, rows


def bench_ray(args, mine_opts, x, y, one_worker) -> None:
    """(f) the (e) layer pair as Ray tasks, against (e)'s workers=1 row."""
    import importlib.util
    import os

    if importlib.util.find_spec("ray") is None:
        print("\n# (f) Ray: skipped, ray is not installed (pip install 'nifgraph[ray]')")
        return
    import ray

    from nifgraph.mi import _ray

    n_edges = x.shape[1] * y.shape[1]
    t0 = time.perf_counter()
    _ray.connect(args.ray)
    started = time.perf_counter() - t0
    res = ray.cluster_resources()
    dev = mi.ray_device(args.ray, args.device)
    print(f"\n# (f) Ray {args.ray!r}: {int(res.get('CPU', 0))} CPUs, {int(res.get('GPU', 0))} GPUs in the cluster "
          f"(joined in {started:.1f} s), tasks on {dev}; load average {os.getloadavg()[0]:.1f}")
    mi.pairwise(x[:, :2], y[:, :2], "mine", seed=0, ray=args.ray, device=args.device, **mine_opts)  # workers start
    t0 = time.perf_counter()
    est = mi.pairwise(x, y, "mine", seed=0, ray=args.ray, device=args.device, **mine_opts)
    wall = time.perf_counter() - t0
    _, _, _, eps1, _, est1, _ = one_worker
    print(f"(f) Ray: {n_edges} edges in {wall:.1f} s = {n_edges / wall:.0f} edges/s; workers=1 (e): {eps1:.0f} edges/s; "
          f"speed-up {n_edges / wall / eps1:.2f}x; max |difference| from the local values {np.abs(est - est1).max():.1e}")
    ray.shutdown()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="< 60 s: fewer naive edges, no digits")
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--naive-edges", type=int, default=None)
    p.add_argument("--threads", type=int, default=1, help="torch threads (naive loop and digits MLP)")
    p.add_argument("--mine", default="{}", help="JSON options for mine")
    p.add_argument("--no-digits", action="store_true")
    p.add_argument("--workers", type=int, default=None, help="(e): workers to compare with 1 (default: every core)")
    p.add_argument("--device", default="cpu", help="(e): also time this device (e.g. cuda)")
    p.add_argument("--only-scale", action="store_true", help="run (e) and (f) only")
    p.add_argument("--rounds", type=int, default=3, help="(e): timed rounds per case, interleaved (--quick: 1)")
    p.add_argument("--ray", default="local", help="(f): Ray cluster (local, auto, HOST:PORT) or none")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.naive_edges is None:
        args.naive_edges = 2 if args.quick else 16
    mine_opts = json.loads(args.mine)
    if not args.only_scale:
        bench_layer_pair(args, {"workers": 1, **mine_opts})
        if not (args.quick or args.no_digits):
            bench_digits(mine_opts)
    x, y, rows = bench_scale(args, mine_opts)
    if args.ray != "none":
        bench_ray(args, mine_opts, x, y, rows[2])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Accuracy of every nifgraph.mi estimator on 1-D x 1-D tasks whose MI is known.

Usage::

    python scripts/bench_accuracy.py [--quick] [--methods mine,ksg] [--mine '{"steps": 500}']
                                     [--workers N] [--device cuda] [--out docs/estimator_accuracy.md]

Each task draws ``reps`` independent data sets of N samples; all data sets go through one
``pairwise`` call per method (the estimates on the diagonal are scored, the off-diagonal
cells are pairs of independent variables and are scored as the row "independent (cross)").
The table lists the true MI, the mean estimate and the mean |error| per method and task,
then the mean absolute error (MAE) per method over the tasks. ``--quick`` (one data set per
task, used by CI) runs in well under a minute.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import digamma, gammaln

import nifgraph.mi as mi

ROOT = Path(__file__).resolve().parents[1]
Sampler = Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Task:
    name: str
    truth: float
    sample: Sampler


def gaussian_mi(rho: float) -> float:
    return float(-0.5 * np.log(1.0 - rho * rho))


def _gauss(rho: float, fx=None, fy=None) -> Sampler:
    def sample(rng, n):
        x = rng.standard_normal(n)
        y = rho * x + np.sqrt(1.0 - rho * rho) * rng.standard_normal(n)
        return (fx(x) if fx else x), (fy(y) if fy else y)

    return sample


def _uniform_noise(width: float) -> Sampler:
    """X ~ U(0, 1), Y = X + U(0, width)."""

    def sample(rng, n):
        x = rng.uniform(0, 1, n)
        return x, x + rng.uniform(0, width, n)

    return sample


def uniform_noise_mi(width: float) -> float:
    """I(X; X + U) for X ~ U(0,1), U ~ U(0,w): w/2 - ln w if w <= 1, else 1/(2w)."""
    return width / 2 - np.log(width) if width <= 1 else 1.0 / (2 * width)


def student_t_mi(nu: float, rho: float) -> float:
    """Bivariate Student-t (Arellano-Valle, Contreras-Reyes & Genton 2013), d1 = d2 = 1."""
    return float(
        -0.5 * np.log(1 - rho * rho)
        + gammaln(nu / 2) + gammaln((nu + 2) / 2) - 2 * gammaln((nu + 1) / 2)
        + (nu + 1) * digamma((nu + 1) / 2) - (nu + 2) / 2 * digamma((nu + 2) / 2)
        - nu / 2 * digamma(nu / 2)
    )


def _student_t(nu: float, rho: float) -> Sampler:
    def sample(rng, n):
        g = _gauss(rho)(rng, n)
        w = np.sqrt(rng.chisquare(nu, n) / nu)
        return g[0] / w, g[1] / w

    return sample


def _log_phi(v):
    return -0.5 * v * v - 0.5 * np.log(2 * np.pi)


def _grid_mi(logp_joint, logp_x, logp_y, lim: float = 9.0, step: float = 0.01) -> float:
    """Numerical integration of p log p / (p_x p_y) on a square grid (rectangle rule)."""
    g = np.arange(-lim, lim + step / 2, step)
    xx, yy = np.meshgrid(g, g, indexing="ij")
    lj = logp_joint(xx, yy)
    integrand = np.exp(lj) * (lj - logp_x(xx) - logp_y(yy))
    return float(integrand.sum() * step * step)


def _shared_sign(mu: float) -> Sampler:
    """Bimodal: S = +-1 shared, X = mu S + Z1, Y = mu S + Z2."""

    def sample(rng, n):
        s = rng.choice([-1.0, 1.0], n)
        return mu * s + rng.standard_normal(n), mu * s + rng.standard_normal(n)

    return sample


def shared_sign_mi(mu: float) -> float:
    def lm(v):
        return np.logaddexp(_log_phi(v - mu), _log_phi(v + mu)) - np.log(2)

    def lj(x, y):
        return np.logaddexp(_log_phi(x - mu) + _log_phi(y - mu),
                            _log_phi(x + mu) + _log_phi(y + mu)) - np.log(2)

    return _grid_mi(lj, lm, lm)


def _cross(rho: float) -> Sampler:
    """Mixture of N(0, [[1, rho], [rho, 1]]) and N(0, [[1, -rho], [-rho, 1]]): an 'X' shape,
    standard-normal marginals, zero correlation (non-monotone dependence)."""

    def sample(rng, n):
        s = rng.choice([-1.0, 1.0], n)
        x = rng.standard_normal(n)
        return x, s * rho * x + np.sqrt(1 - rho * rho) * rng.standard_normal(n)

    return sample


def cross_mi(rho: float) -> float:
    c = np.sqrt(1 - rho * rho)

    def lj(x, y):
        a = _log_phi(x) + _log_phi((y - rho * x) / c) - np.log(c)
        b = _log_phi(x) + _log_phi((y + rho * x) / c) - np.log(c)
        return np.logaddexp(a, b) - np.log(2)

    return _grid_mi(lj, _log_phi, _log_phi)


def _independent(rng, n):
    return rng.standard_normal(n), rng.exponential(1.0, n)


def _constant(rng, n):
    return rng.standard_normal(n), np.full(n, 2.5)


def tasks() -> list[Task]:
    return [
        Task("gaussian rho=0.3", gaussian_mi(0.3), _gauss(0.3)),
        Task("gaussian rho=0.6", gaussian_mi(0.6), _gauss(0.6)),
        Task("gaussian rho=0.9", gaussian_mi(0.9), _gauss(0.9)),
        Task("exp(x), y^3 (rho=0.6)", gaussian_mi(0.6), _gauss(0.6, np.exp, lambda v: v**3)),
        Task("x^3, exp(y) (rho=0.9)", gaussian_mi(0.9), _gauss(0.9, lambda v: v**3, np.exp)),
        Task("uniform + U(0,2) noise", uniform_noise_mi(2.0), _uniform_noise(2.0)),
        Task("uniform + U(0,0.5) noise", uniform_noise_mi(0.5), _uniform_noise(0.5)),
        Task("bimodal shared sign mu=1.5", shared_sign_mi(1.5), _shared_sign(1.5)),
        Task("X-shaped mixture rho=+-0.8", cross_mi(0.8), _cross(0.8)),
        Task("student-t nu=1 rho=0", student_t_mi(1, 0.0), _student_t(1, 0.0)),
        Task("student-t nu=3 rho=0.5", student_t_mi(3, 0.5), _student_t(3, 0.5)),
        Task("independent gaussian/exp", 0.0, _independent),
        Task("constant variable", 0.0, _constant),
    ]


def run(methods, n, reps, seed, mine_opts, smile_opts, where=None):
    rng = np.random.default_rng(seed)
    ts = tasks()
    xs, ys, owner = [], [], []
    for ti, t in enumerate(ts):
        for _ in range(reps):
            x, y = t.sample(rng, n)
            xs.append(x)
            ys.append(y)
            owner.append(ti)
    x, y = np.column_stack(xs), np.column_stack(ys)
    owner_a = np.array(owner)
    results, seconds = {}, {}
    for m in methods:
        opts = mine_opts if m == "mine" else smile_opts if m == "smile" else {}
        t0 = time.perf_counter()
        est = mi.pairwise(x, y, m, seed=seed, **(where or {}), **opts)
        seconds[m] = time.perf_counter() - t0
        diag = np.diag(est)
        per_task = []
        for ti, t in enumerate(ts):
            e = diag[owner_a == ti]
            per_task.append((float(e.mean()), float(np.mean(np.abs(e - t.truth)))))
        # off-diagonal cells: different data sets, so independent (except the constant task)
        ok = (owner_a[:, None] != owner_a[None, :])
        off = est[ok]
        per_task.append((float(off.mean()), float(off.mean())))
        results[m] = per_task
    names = [t.name for t in ts] + ["independent (cross pairs, mean)"]
    truths = [t.truth for t in ts] + [0.0]
    return names, truths, results, seconds, x.shape[1] ** 2


def render(names, truths, results, seconds, n_edges, args) -> str:
    methods = list(results)
    head = "| task | true MI | " + " | ".join(f"{m} est | {m} err" for m in methods) + " |"
    sep = "|" + "---|" * (2 + 2 * len(methods))
    rows = [head, sep]
    for i, name in enumerate(names):
        cells = [f"{results[m][i][0]:.3f} | {results[m][i][1]:.3f}" for m in methods]
        rows.append(f"| {name} | {truths[i]:.3f} | " + " | ".join(cells) + " |")
    n_task = len(names) - 1
    mae = {m: np.mean([results[m][i][1] for i in range(n_task)]) for m in methods}
    rows.append("| **MAE (tasks)** | | " + " | ".join(f"| **{mae[m]:.3f}**" for m in methods) + " |")
    rows.append("| seconds (all pairs) | | " + " | ".join(f"| {seconds[m]:.1f}" for m in methods) + " |")
    rows.append("| edges/s | | " + " | ".join(f"| {n_edges / seconds[m]:.0f}" for m in methods) + " |")
    worst = {m: max(range(n_task), key=lambda i: results[m][i][1]) for m in methods}
    rows.append("| worst task (err) | | " + " | ".join(
        f"| {names[worst[m]]} ({results[m][worst[m]][1]:.3f})" for m in methods) + " |")
    intro = [
        "# Estimator accuracy (generated by `scripts/bench_accuracy.py`)",
        "",
        f"N = {args.n} samples per data set, {args.reps} data set(s) per task, seed {args.seed}; "
        f"each method estimated all {n_edges} pairs of the stacked data sets in one call "
        f"(the diagonal is scored; `err` = mean |estimate - truth| over the data sets). "
        f"Machine: {platform.machine()}, {args.where_text}. "
        f"MINE options: {json.dumps(args.mine_opts) or 'defaults'}.",
        "",
    ]
    return "\n".join(intro + rows) + "\n", mae


def _where_text(workers, device) -> str:
    import torch

    from nifgraph.mi._parallel import cpu_count

    dev = mi.resolve_device(device)
    if dev.startswith("cuda"):
        return f"GPU {torch.cuda.get_device_name(torch.device(dev))} (torch {torch.__version__})"
    return f"{cpu_count()} CPU cores, {workers or cpu_count()} worker(s), torch {torch.__version__}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="one data set per task (CI, < 60 s)")
    p.add_argument("--methods", default=",".join(mi.METHODS))
    p.add_argument("--n", type=int, default=4000)
    p.add_argument("--reps", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mine", default="{}", help="JSON options for mine (tuning)")
    p.add_argument("--smile", default="{}", help="JSON options for smile")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: every core)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (MINE and SMILE)")
    p.add_argument("--out", default=None, help="markdown file (default docs/estimator_accuracy.md; "
                   "'-' for none; --quick writes nothing unless given)")
    args = p.parse_args(argv)
    args.reps = args.reps or (1 if args.quick else 3)
    args.mine_opts = json.loads(args.mine)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    where = {"workers": args.workers, "device": args.device}
    args.where_text = _where_text(args.workers, args.device)
    names, truths, results, seconds, n_edges = run(
        methods, args.n, args.reps, args.seed, args.mine_opts, json.loads(args.smile), where
    )
    text, mae = render(names, truths, results, seconds, n_edges, args)
    print(text)
    out = args.out if args.out is not None else (None if args.quick else "docs/estimator_accuracy.md")
    if out and out != "-":
        path = ROOT / out if not Path(out).is_absolute() else Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

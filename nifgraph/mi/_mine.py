"""Neural MI lower bounds (MINE, SMILE) for many edges at once.

Every edge ``e`` gets its own critic ``T_e(x, q) = w2 . relu(W1 [x, q, 1]) + b2``
(``(dx+1) -> hidden -> 1``; ``dx = 1`` for a neuron pair, ``dx = a`` for :func:`joint`).
The weights of all edges in the work pool are rows of one ``(A, P)`` tensor and are trained
together with batched matrix products over the leading edge dimension -- no Python loop over
edges. Gradients are written by hand (the critic is two matmuls and a ReLU) and Adam is
applied to the whole ``(A, P)`` block, which avoids autograd's graph building on every step.

Bounds
------
``mine``  Donsker-Varadhan bound ``E_P[T] - ln E_Q[e^T]`` (Belghazi et al. 2018). The
          gradient of the marginal term uses a moving average of ``E_Q[e^T]`` in the
          denominator (the bias correction of the MINE paper, rate ``ma_rate``).
``smile`` Song & Ermon 2020: the critic is trained with the Jensen-Shannon (f-GAN) bound,
          whose optimum is the log density ratio, and the estimate is the DV bound with the
          ratio clipped to ``[e^-tau, e^tau]`` -- lower variance, slightly more bias at high MI.

Estimate
--------
The samples are split once (by the seed) into a training part and a held-out part
(``holdout`` fraction). Every ``eval_every`` steps the bound of each active critic is
evaluated on the held-out part, its marginal term averaged over ``eval_shuffles`` fixed
shuffles of the held-out ``q``. The reported value is the best held-out bound seen; an edge
whose held-out bound has not improved by ``tol`` for ``patience`` evaluations (after at least
``min_steps``) -- ``quiet_patience`` evaluations for a quiet edge, whose best bound is below
``quiet_below`` nats -- or that reached ``steps`` is frozen and leaves the pool, and a waiting edge
takes its place, so the pool stays ``chunk_size`` wide and cache-sized until the queue ends.

Randomness that does not depend on the pool
-------------------------------------------
An edge's result is a function of the seed, its data and its *key* (its cell in the output)
only -- not of which edges share its pool, the pool width, how the edges are split between
worker processes, or the device: the split, the shuffles and the minibatch tables (one row per
training step: the batch indices and the marginal's shuffle) are drawn once from the seed on
the CPU, and an edge at its own step ``t`` reads row ``t``; its initial weights are a hash of
``(seed, key)`` (splitmix64 -> normal scores). So any sharding gives the same values (to float
rounding), and the same seed gives the same random choices on a CPU and a GPU.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import ndtri

from ..errors import first_line

DEFAULTS: dict[str, object] = {
    "steps": 1000,  # max training steps per edge
    "batch_size": 128,  # as accurate as 256 in bench_accuracy (MAE 0.032), 1.7x faster
    "hidden": 16,
    "lr": 0.03,  # with the weights' average (ema) a higher rate pays: 0.01 -> 0.03 (docs/estimators.md)
    "chunk_size": None,  # edges trained together (pool width); None: 256 on a CPU, 8192 on a GPU
    "eval_every": 25,
    "patience": 6,  # evaluations without improvement before an edge is frozen (6 x 25 steps)
    "min_steps": 100,
    # A quiet edge, whose best held-out bound is below quiet_below nats, stops after
    # quiet_patience evaluations without gain (0: off). Most edges of a trained network carry
    # almost nothing and settled early; 2.3x fewer steps at the same accuracy with eval_every 25 (docs/estimators.md)
    "quiet_below": 0.01,
    "quiet_patience": 1,
    "tol": 0.001,  # nats: smaller held-out gains do not count as improvement
    "holdout": 0.25,
    "eval_shuffles": 2,  # shuffles of the held-out q for early stopping (4 was no more accurate)
    "final_shuffles": 32,  # shuffles for the reported estimate
    "ma_rate": 0.01,
    "copula": True,
    "rank_input": True,  # each variable also enters the critic as its uniform rank (2 inputs per variable)
    "ema": 0.03,  # rate of the weights' moving average that is evaluated and reported (0: the weights)
    "threads": 1,  # torch threads; the ops are small, so more threads rarely pay (see docs)
    "compile": False,  # GPU: the fused step through torch.compile (1.1-1.4x once compiled, ~30 s to compile)
    # training loop: "numba" (compiled, CPU, one edge at a time), "bmm" (batched torch, any device),
    # "triton" (one GPU program per edge, the gpu extra; not yet measured on a card; it takes precedence over
    # compile); auto: numba on a CPU, bmm on a GPU
    "kernel": "auto",
}
SMILE_DEFAULTS: dict[str, object] = {**DEFAULTS, "tau": 5.0}

#: Diagnostics of the latest call (steps each edge trained), read by scripts/bench_*.py.
LAST_RUN: dict[str, np.ndarray] = {}

_ADAM_B1, _ADAM_B2, _ADAM_EPS = 0.9, 0.999, 1e-8
#: Pool width when ``chunk_size`` is None: cache-sized on a CPU (256-edge pools were 2x
#: faster than 2048), wide on a GPU so that every step has enough work for the card.
POOL_CPU, POOL_GPU = 256, 8192


def _splitmix64(z: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on a uint64 array (wrapping arithmetic)."""
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def edge_normals(keys: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``(k, n)`` standard normals, a pure function of ``(seed, key, column)``."""
    base = _splitmix64(np.array([int(seed) & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64) ^ np.uint64(0x5DEECE66D))
    ctr = np.asarray(keys, dtype=np.int64).astype(np.uint64)[:, None] * np.uint64(n)
    h = _splitmix64((ctr + np.arange(n, dtype=np.uint64)[None, :]) ^ base)
    return ndtri(((h >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53)


def min_samples(opts: dict) -> int:
    return 40


_RANGES = {  # name: (low, high, inclusive-low) for the float options
    "lr": (0.0, math.inf, False),
    "holdout": (0.05, 0.9, True),
    "ma_rate": (0.0, 1.0, False),
    "ema": (0.0, 1.0, True),
    "tol": (0.0, math.inf, True),
    "quiet_below": (0.0, math.inf, True),
    "tau": (0.0, math.inf, False),
}


#: Caps on the int options whose size is allocated before training (a typo like 10^10 steps
#: would ask for terabytes): far beyond what a 1-D pair needs (it converges in hundreds).
_INT_CAPS = {"steps": 100_000, "min_steps": 100_000, "batch_size": 65_536, "eval_shuffles": 1_000, "final_shuffles": 1_000}


KERNELS = ("auto", "numba", "bmm", "triton")


def use_numba(opts: dict, device: torch.device) -> bool:
    """Whether the compiled CPU loop (:mod:`._kernel`) trains the critics: ``kernel`` "numba",
    or "auto" on a CPU; never on a GPU, nor for the ``compile`` (fused torch) step."""
    from ._kernel import HAVE_NUMBA

    kernel = opts.get("kernel", "auto")
    if device.type != "cpu" or opts.get("compile", False) or kernel not in ("auto", "numba"):
        return False
    return HAVE_NUMBA


def check_options(opts: dict, owner: str) -> None:
    """Range checks beyond the types checked by ``merge_options``."""
    from ..errors import param_error

    if "kernel" in opts and opts["kernel"] not in KERNELS:
        raise param_error("kernel", owner, "one of " + ", ".join(repr(k) for k in KERNELS), opts["kernel"])
    if opts.get("kernel") == "triton":
        from ..errors import ValidationError
        from ._triton import HAVE_TRITON, too_large, unavailable

        if not HAVE_TRITON:
            raise ValidationError(f"{owner}: {unavailable(torch.device('cuda'))}")
        big = too_large(int(opts.get("hidden", 16)), int(opts.get("batch_size", 128)))
        if big is not None:
            raise ValidationError(f"{owner}: {big}")

    for name, (lo, hi, closed) in _RANGES.items():
        if name in opts:
            v = opts[name]
            if not ((v >= lo if closed else v > lo) and v <= hi):
                expected = f"in {'[' if closed else '('}{lo}, {hi}]"
                raise param_error(name, owner, expected, v)
    for name, cap in _INT_CAPS.items():  # the step plan is allocated up front: (steps, batch) indices
        if name in opts and opts[name] > cap:
            raise param_error(name, owner, f"an int ≤ {cap:,}", opts[name])


class _Pool:
    """Parameters and optimiser state of the edges being trained, one row per edge."""

    def __init__(self, n_param: int, device: torch.device) -> None:
        z = dict(device=device)
        self.avg = torch.zeros(0, n_param, **z)  # (A, P) moving average of the weights (ema > 0)
        self.eid = torch.zeros(0, dtype=torch.long, **z)  # (A,) edge positions in the call
        self.theta = torch.zeros(0, n_param, **z)  # (A, P) critic weights
        self.m = torch.zeros(0, n_param, **z)  # (A, P) Adam first moment
        self.v = torch.zeros(0, n_param, **z)  # (A, P) Adam second moment
        self.t = torch.zeros(0, **z)  # (A,) steps taken
        self.log_ma = torch.zeros(0, **z)  # (A,) log moving average of E_Q[e^T]
        self.best = torch.zeros(0, **z)  # (A,) best held-out bound
        self.best_theta = torch.zeros(0, n_param, **z)  # (A, P) weights at the best bound
        self.stale = torch.zeros(0, dtype=torch.long, **z)  # (A,) evaluations without gain

    def __len__(self) -> int:
        return int(self.eid.shape[0])

    def add(self, eid: torch.Tensor, theta: torch.Tensor) -> None:
        k = eid.shape[0]
        self.eid = torch.cat([self.eid, eid])
        self.theta = torch.cat([self.theta, theta])
        self.avg = torch.cat([self.avg, theta])
        self.m = torch.cat([self.m, torch.zeros_like(theta)])
        self.v = torch.cat([self.v, torch.zeros_like(theta)])
        self.t = torch.cat([self.t, self.t.new_zeros(k)])
        self.log_ma = torch.cat([self.log_ma, self.t.new_full((k,), float("nan"))])
        self.best = torch.cat([self.best, self.t.new_full((k,), -math.inf)])
        self.best_theta = torch.cat([self.best_theta, theta])
        self.stale = torch.cat([self.stale, self.stale.new_zeros(k)])

    def keep(self, mask: torch.Tensor) -> None:
        for name in ("eid", "theta", "avg", "m", "v", "t", "log_ma", "best", "best_theta", "stale"):
            setattr(self, name, getattr(self, name)[mask])


class _Critics:
    """Forward pass and hand-written backward pass of the stacked critics.

    Inputs are stored transposed, ``inp (A, D, M)`` with ``D = din + 1`` rows (the x columns,
    ``q``, and a row of ones for the bias) and the ``M`` samples contiguous; the hidden layer is
    ``(A, H, M)``. In this layout all four products are plain row-major ``bmm``s (see docs).
    """

    def __init__(self, din: int, hidden: int) -> None:
        self.din, self.h = din, hidden  # din = dx + dq input rows (+1 bias row inside W1)
        self.n_w1 = (din + 1) * hidden
        self.n_param = self.n_w1 + hidden + 1

    def init(self, keys: np.ndarray, seed: int, device: torch.device) -> torch.Tensor:
        """Fresh weights ``(k, P)`` of the edges ``keys``: He-normal first layer, small second
        layer, b2 = 0 -- drawn from ``(seed, key)`` alone (see the module docstring)."""
        d, h, k = self.din, self.h, len(keys)
        z = torch.as_tensor(edge_normals(keys, d * h + 2 * h, seed), dtype=torch.float32)
        w_in = z[:, : d * h].reshape(k, d, h) * math.sqrt(2.0 / d)
        b_in = z[:, d * h : d * h + h].reshape(k, 1, h) * 0.5
        w2 = z[:, d * h + h :] * (1.0 / math.sqrt(h))
        theta = torch.cat([torch.cat([w_in, b_in], 1).reshape(k, -1), w2, torch.zeros(k, 1)], 1)
        return theta.to(device)

    def split(self, theta: torch.Tensor):
        """Views of ``theta``: ``w1 (A, din+1, H)``, ``w2 (A, H)``, ``b2 (A, 1)``."""
        k = theta.shape[0]
        w1 = theta[:, : self.n_w1].view(k, self.din + 1, self.h)
        w2 = theta[:, self.n_w1 : self.n_w1 + self.h]
        b2 = theta[:, -1:]
        return w1, w2, b2

    def forward(self, theta, inp, hid=None, t=None):
        """``inp (A, D, M)`` (last row = 1) -> critic values ``(A, M)`` and hidden ``(A, H, M)``.

        ``hid (A, H, M)`` and ``t (A, 1, M)`` are optional output buffers.
        """
        w1, w2, b2 = self.split(theta)
        hid = torch.bmm(w1.transpose(1, 2), inp, out=hid).relu_()  # (A, H, M)
        t = torch.bmm(w2.unsqueeze(1), hid, out=t).add_(b2.unsqueeze(2))  # (A, 1, M)
        return t.squeeze(1), hid

    def backward(self, theta, inp, hid, dt, grad, work) -> torch.Tensor:
        """Gradient ``(A, P)`` of ``sum(dt * T)`` with respect to the weights, into ``grad``.

        ``dL/dW1[k, h] = w2[h] * sum_m inp[k, m] dt[m] 1[hid[h, m] > 0]``: ``w2`` does not
        depend on the sample, so it is applied after the batched product and the only pass
        over the ``(A, H, M)`` activations besides the two products is the ReLU mask, taken
        in place (``hid`` is overwritten). ``work`` = buffers ``(A, D, M)``, ``(A, D, H)``, ``(A, 1, H)``.
        """
        _, w2, _ = self.split(theta)
        k, h = theta.shape[0], self.h
        inp_dt, g_w1, g_w2 = work
        torch.bmm(dt.unsqueeze(1), hid.transpose(1, 2), out=g_w2)  # (A, 1, H)
        mask = hid.sign_()  # 1 where the ReLU is active (hid >= 0)
        torch.mul(inp, dt.unsqueeze(1), out=inp_dt)  # (A, D, M)
        torch.bmm(inp_dt, mask.transpose(1, 2), out=g_w1).mul_(w2.unsqueeze(1))  # (A, D, H)
        g_b2 = dt.sum(1, keepdim=True)
        torch.cat([g_w1.view(k, -1), g_w2.view(k, h), g_b2], 1, out=grad)
        return grad


def _logmeanexp(t: torch.Tensor, dim: int = 1) -> torch.Tensor:
    return torch.logsumexp(t, dim) - math.log(t.shape[dim])


def pool_width(opts: dict, device: torch.device) -> int:
    if opts.get("chunk_size") is not None:
        return int(opts["chunk_size"])
    return POOL_GPU if device.type == "cuda" else POOL_CPU


#: Share of the card's free memory a default-width GPU pool may take.
GPU_MEMORY_SHARE = 0.5


def pool_bytes_per_edge(d_in: int, hidden: int, batch: int, n_hold: int, n_param: int) -> int:
    """Device memory one edge of the ``bmm`` pool takes at its peak, float32, with a 2x margin
    (``torch.cat`` when the pool refills holds its state twice): the step's buffers (inputs,
    hidden layer, work, row tables, weights, Adam and the best and averaged weights) and the
    held-out evaluation (inputs, gathered q rows and hidden layer over the held-out samples).
    It grows with the critic's inputs: ``joint`` on a wide layer (``d_in`` = 2 x width + 3)
    needs megabytes per edge, where a pair needs ~0.1 MB at N = 4000."""
    m2 = 2 * batch
    train = 2 * d_in * m2 + hidden * m2 + d_in * hidden + 2 * m2 + 4 * m2 + 8 * n_param
    held = (2 * d_in + hidden + 2) * n_hold
    return 2 * 4 * (train + held)


def gpu_pool_cap(free_bytes: int, per_edge: int) -> int:
    """Edges a default-width GPU pool may hold: :data:`GPU_MEMORY_SHARE` of the free memory.
    Values do not depend on the pool width, so the cap only bounds memory."""
    return max(1, int(free_bytes * GPU_MEMORY_SHARE) // max(1, per_edge))


def _split(gen: torch.Generator, n: int, opts: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """The held-out and training rows: the first draw of a call's generator."""
    n_hold = max(int(round(opts["holdout"] * n)), 10)
    perm = torch.randperm(n, generator=gen)
    return perm[:n_hold], perm[n_hold:]


def split_rows(seed: int, n: int, opts: dict) -> tuple[np.ndarray, np.ndarray]:
    """The training and held-out rows of ``n`` samples that ``seed`` draws (as every call does)."""
    hold, train = _split(torch.Generator().manual_seed(int(seed)), n, opts)
    return train.numpy(), hold.numpy()


#: Bytes of the temporary that :func:`gather_rows` takes per block of columns.
GATHER_BYTES = 8 << 20


def gather_rows(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``x[rows].T`` as one C-contiguous float32 array ``(columns, len(rows))``, a few columns
    at a time (no full-size temporary; the same values as a whole-array copy)."""
    out = np.empty((x.shape[1], rows.size), dtype=np.float32)
    blk = int(max(1, min(64, GATHER_BYTES // max(1, rows.size * x.itemsize))))
    for c0 in range(0, x.shape[1], blk):
        out[c0 : c0 + blk] = x[rows, c0 : c0 + blk].T
    return out


@dataclass(frozen=True)
class CriticTables:
    """The critic tables in the layout the training loop reads: per variable (a row), its
    training samples ``x_tr (cx, n_tr)``, ``y_tr (cy, n_tr)`` and its held-out samples
    ``x_ho (cx, n_hold)``, ``y_ho (cy, n_hold)``, float32 and C-contiguous, for the split that
    ``seed`` draws. The pieces of one call share the seed, so the parent builds this once and
    the workers read it as it is (mapped: :mod:`._parallel`), with no copy of their own."""

    x_tr: np.ndarray
    y_tr: np.ndarray
    x_ho: np.ndarray
    y_ho: np.ndarray
    seed: int
    holdout: float

    @property
    def n(self) -> int:
        return int(self.x_tr.shape[1] + self.x_ho.shape[1])

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return self.x_tr, self.y_tr, self.x_ho, self.y_ho


def critic_tables(xs: np.ndarray, ys: np.ndarray, *, seed: int, opts: dict) -> CriticTables:
    """:class:`CriticTables` of the variables ``xs (N, cx)``, ``ys (N, cy)`` for ``seed``."""
    train, hold = split_rows(seed, xs.shape[0], opts)
    return CriticTables(
        gather_rows(xs, train), gather_rows(ys, train), gather_rows(xs, hold), gather_rows(ys, hold),
        int(seed), float(opts["holdout"]),
    )


def _tables(gen: torch.Generator, n: int, opts: dict):
    """Every random choice of a call, drawn once from the seed (on the CPU).

    Returns the held-out and training rows, the eval and final shuffles of the held-out ``q``,
    and per training step ``t`` the x rows ``(T, 2B)`` and q rows ``(T, 2B)`` of the batch
    (joint half: the same rows; marginal half: q's rows shuffled within the batch).
    """
    hold, train = _split(gen, n, opts)
    n_hold = hold.numel()
    n_tr = n - n_hold
    batch = min(int(opts["batch_size"]), n_tr)
    shuffles = torch.argsort(torch.rand(int(opts["eval_shuffles"]), n_hold, generator=gen), 1)  # (K, n_hold)
    final = torch.argsort(torch.rand(int(opts["final_shuffles"]), n_hold, generator=gen), 1)  # (K', n_hold)
    every = min(int(opts["eval_every"]), int(opts["steps"]))
    n_t = -(-int(opts["steps"]) // every) * every  # steps an edge can take, rounded to blocks
    idx = torch.randint(n_tr, (n_t, batch), generator=gen)  # (T, B)
    shuf = torch.argsort(torch.rand(n_t, batch, generator=gen), 1)  # (T, B)
    x_rows = torch.cat([idx, idx], 1)  # (T, 2B)
    q_rows = torch.cat([idx, idx.gather(1, shuf)], 1)  # (T, 2B)
    return hold, train, shuffles, final, x_rows, q_rows, batch, every


def train_bounds(
    xs: np.ndarray | None,
    ys: np.ndarray | None,
    ex: np.ndarray,
    ey: np.ndarray,
    *,
    bound: str,
    opts: dict,
    seed: int,
    keys: np.ndarray | None = None,
    device: str | torch.device = "cpu",
    progress: Callable[[int, int], None] | None = None,
    done_offset: int = 0,
    total: int | None = None,
    fused: bool | None = None,
    tables: CriticTables | None = None,
) -> np.ndarray:
    """Train one critic per edge and return each edge's held-out bound ``(E,)`` in nats.

    Parameters
    ----------
    xs : (N, cx) float array, the x-side variables (already normal scores / standardised).
    ys : (N, cy) float array, the q-side variables.
    ex : (E, dx) int array, the x columns each edge's critic sees.
    ey : (E,) int array, the q column of each edge; or (E, dq), the q columns (one variable
        entering the critic as several inputs, e.g. its normal score and its rank).
    keys : (E,) int array, each edge's identity (seeds its initial weights); default 0..E-1.
    device : where the tensors live (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...).
    fused : the element-wise step (:func:`fused_step`) instead of the ``bmm`` step, compiled by
        ``torch.compile`` on a GPU (uncompiled on a CPU: the same code path, for tests);
        default: ``opts["compile"]``.
    tables : the variables already laid out for ``seed`` (:func:`critic_tables`); ``xs`` and
        ``ys`` are then not read (pass ``None``). Read as they are on a CPU: no copy.
    """
    dev = torch.device(device)
    n_edges = int(ey.shape[0])
    total = n_edges if total is None else total
    out = np.zeros(n_edges)
    steps_taken = np.zeros(n_edges)
    LAST_RUN["steps"] = steps_taken
    if n_edges == 0:
        return out
    keys = np.arange(n_edges) if keys is None else np.asarray(keys)
    gen = torch.Generator().manual_seed(int(seed))
    if tables is None:
        tables = critic_tables(xs, ys, seed=seed, opts=opts)
    elif tables.seed != int(seed) or tables.holdout != float(opts["holdout"]):
        raise ValueError("critic tables laid out for another seed or holdout")  # a caller's bug
    hold, train, shuffles, final_shuffles, x_rows, q_rows, batch, eval_every = _tables(gen, tables.n, opts)
    shuffles, final_shuffles = shuffles.to(dev), final_shuffles.to(dev)
    x_rows, q_rows = x_rows.to(dev), q_rows.to(dev)
    with warnings.catch_warnings():  # read-only tables (Ray's object store) are read, never written
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        x_tr, y_tr, x_ho, y_ho = (torch.as_tensor(a).to(dev) for a in tables.arrays())  # (c, n_tr), (c, n_hold)
    n_tr = x_tr.shape[1]
    x_flat, y_flat = x_tr.view(-1), y_tr.view(-1)  # row c of the table starts at c * n_tr
    ex_t = torch.as_tensor(ex, dtype=torch.long).to(dev)  # (E, dx)
    ey_t = torch.as_tensor(np.asarray(ey).reshape(n_edges, -1), dtype=torch.long).to(dev)  # (E, dq)
    dx, dq = ex_t.shape[1], ey_t.shape[1]
    critics = _Critics(dx + dq, int(opts["hidden"]))
    ema = float(opts.get("ema", 0.0))
    lr, rate = float(opts["lr"]), float(opts["ma_rate"])
    tau = float(opts.get("tau", 0.0))
    patience, min_steps, max_steps = int(opts["patience"]), int(opts["min_steps"]), int(opts["steps"])
    tol = float(opts["tol"])
    quiet_below = float(opts.get("quiet_below", 0.0))
    quiet_patience = int(opts.get("quiet_patience", 1))

    if fused is None and opts.get("kernel") == "triton":
        return _train_triton(
            critics, x_tr, y_tr, x_ho, y_ho, ex_t, ey_t, keys, seed, x_rows, q_rows, shuffles, final_shuffles,
            batch, eval_every, bound, opts, out, steps_taken, progress, done_offset, total, dev,
        )
    if fused is None and use_numba(opts, dev):
        return _train_numba(
            critics, x_tr, y_tr, x_ho, y_ho, ex, ey, keys, seed, x_rows, q_rows, shuffles, final_shuffles,
            batch, eval_every, bound, opts, out, steps_taken, progress, done_offset, total,
        )
    fused = bool(opts.get("compile", False)) if fused is None else fused
    stepper = (compiled_step() if dev.type == "cuda" else fused_step) if fused else None
    pool = _Pool(critics.n_param, dev)
    # Work buffers sized for a full pool, reused every step (views [:A] when the pool is
    # smaller): ops writing a fresh (A, H, 2B) tensor every step cost 3-5x the same ops
    # writing into a reused buffer (see docs).
    chunk = min(pool_width(opts, dev), n_edges)  # the pool never holds more edges than there are
    m2, d_in, h = 2 * batch, dx + dq + 1, critics.h
    if dev.type == "cuda" and opts.get("chunk_size") is None:  # a wide critic must not run out of memory
        free = torch.cuda.mem_get_info(dev)[0]
        chunk = min(chunk, gpu_pool_cap(free, pool_bytes_per_edge(d_in, h, batch, x_ho.shape[1], critics.n_param)))
    z = dict(device=dev)
    hid_buf = torch.empty(chunk, h, m2, **z)
    t_buf = torch.empty(chunk, 1, m2, **z)
    dt_buf = torch.full((chunk, m2), -1.0 / batch, **z)  # mine: the joint half is constant
    grad_buf = torch.empty(chunk, critics.n_param, **z)
    adam_buf = (torch.empty(chunk, critics.n_param, **z), torch.empty(chunk, critics.n_param, **z))
    work_buf = (torch.empty(chunk, d_in, m2, **z), torch.empty(chunk, d_in, h, **z), torch.empty(chunk, 1, h, **z))
    rows_buf = (torch.empty(chunk, m2, dtype=torch.long, **z), torch.empty(chunk, m2, dtype=torch.long, **z))
    nxt, done = 0, 0
    while nxt < n_edges or len(pool) > 0:
        if len(pool) < chunk and nxt < n_edges:  # refill the pool from the queue
            k = min(chunk - len(pool), n_edges - nxt)
            pool.add(torch.arange(nxt, nxt + k, **z), critics.init(keys[nxt : nxt + k], seed, dev))
            nxt += k
        ex_p, ey_p = ex_t[pool.eid], ey_t[pool.eid]  # (A, dx), (A, dq)
        a = len(pool)
        # inputs (A, dx+2, 2B) as a view of a (dx+2, A, 2B) block: rows x columns, q, ones
        # (the last row stays 1); each row block is filled by one gather from the tables
        inp_rows = torch.ones(d_in, a, m2, **z)
        inp = inp_rows.permute(1, 0, 2)
        x_off = (ex_p.T * n_tr).unsqueeze(2)  # (dx, A, 1) start of each edge's x row
        q_off = (ey_p.T * n_tr).unsqueeze(2)  # (dq, A, 1)
        t0 = pool.t.long()  # (A,) each edge's own step count: row t of the tables
        hid, tt = hid_buf[:a], t_buf[:a]
        dt, grad, work = dt_buf[:a], grad_buf[:a], tuple(w[:a] for w in work_buf)
        adam_work = (adam_buf[0][:a], adam_buf[1][:a])
        xr, qr = rows_buf[0][:a], rows_buf[1][:a]
        fx, fq = torch.empty(dx, a, m2, dtype=torch.long, **z), torch.empty(dq, a, m2, dtype=torch.long, **z)
        dtj, dtm = dt[:, :batch], dt[:, batch:]
        for _ in range(eval_every if stepper is not None else 0):
            pool.theta, pool.m, pool.v, pool.t, pool.log_ma = stepper(
                pool.theta, pool.m, pool.v, pool.t, pool.log_ma, x_flat, y_flat, x_off.permute(1, 0, 2),
                q_off.permute(1, 0, 2), x_rows, q_rows, batch=batch, lr=lr, rate=rate, bound=bound,
            )
            if ema > 0.0:
                pool.avg.mul_(1.0 - ema).add_(pool.theta, alpha=ema)
        for s in range(eval_every if stepper is None else 0):
            step = t0 + s
            torch.index_select(x_rows, 0, step, out=xr)  # (A, 2B)
            torch.index_select(q_rows, 0, step, out=qr)
            torch.add(x_off, xr.unsqueeze(0), out=fx)
            torch.add(q_off, qr.unsqueeze(0), out=fq)
            torch.index_select(x_flat, 0, fx.view(-1), out=inp_rows[:dx].view(-1))
            torch.index_select(y_flat, 0, fq.view(-1), out=inp_rows[dx : dx + dq].view(-1))
            t, _ = critics.forward(pool.theta, inp, hid, tt)  # (A, 2B)
            tj, tm = t[:, :batch], t[:, batch:]
            if bound == "mine":
                lme = _logmeanexp(tm)  # (A,)
                fresh = torch.isnan(pool.log_ma)
                upd = torch.logaddexp(pool.log_ma + math.log(1.0 - rate), lme + math.log(rate))
                pool.log_ma = torch.where(fresh, lme, upd)
                torch.sub(tm, pool.log_ma.unsqueeze(1), out=dtm).exp_().div_(batch)
            else:  # smile: train with the Jensen-Shannon bound
                torch.neg(tj, out=dtj).sigmoid_().div_(-batch)
                torch.sigmoid(tm, out=dtm).div_(batch)
            critics.backward(pool.theta, inp, hid, dt, grad, work)
            _adam(pool, grad, lr, adam_work)
            if ema > 0.0:
                pool.avg.mul_(1.0 - ema).add_(pool.theta, alpha=ema)
        cur = pool.avg if ema > 0.0 else pool.theta  # the weights evaluated and kept
        est = _heldout(critics, cur, x_ho, y_ho, ex_p, ey_p, shuffles, bound, tau)
        gain = est > pool.best + tol
        pool.stale = torch.where(gain, torch.zeros_like(pool.stale), pool.stale + 1)
        pool.best = torch.maximum(pool.best, est)
        pool.best_theta[gain] = cur[gain]
        need = patience
        if quiet_below > 0.0:  # a quiet edge needs fewer evaluations without gain (see DEFAULTS)
            need = torch.where(pool.best < quiet_below, quiet_patience, patience)
        finished = ((pool.t >= min_steps) & (pool.stale >= need)) | (pool.t >= max_steps)
        if bool(finished.any()):
            # final estimate: the best critic, marginal term over more (fresh) shuffles
            final = _heldout(
                critics, pool.best_theta[finished], x_ho, y_ho, ex_p[finished],
                ey_p[finished], final_shuffles, bound, tau,
            )
            eid = pool.eid[finished].cpu().numpy()
            out[eid] = final.double().cpu().numpy()
            steps_taken[eid] = pool.t[finished].cpu().numpy()
            done += eid.size
            pool.keep(~finished)
            if progress is not None:
                progress(done_offset + done, total)
    return out


#: Edges per call into the compiled loop (progress is reported between calls).
NUMBA_BLOCK = 64


def _train_numba(critics, x_tr, y_tr, x_ho, y_ho, ex, ey, keys, seed, x_rows, q_rows, shuffles, final_shuffles,
                 batch, eval_every, bound, opts, out, steps_taken, progress, done_offset, total) -> np.ndarray:
    """:func:`train_bounds` through the compiled CPU loop, in blocks of :data:`NUMBA_BLOCK`
    edges (each edge trained start to end; see :mod:`._kernel`)."""
    from ._kernel import train_edges

    n_edges = int(ey.shape[0])
    args = [a.numpy() for a in (x_tr, y_tr, x_ho, y_ho)]
    ex2 = np.asarray(ex, dtype=np.int64).reshape(n_edges, -1)
    ey2 = np.asarray(ey, dtype=np.int64).reshape(n_edges, -1)
    tables = [a.numpy() for a in (x_rows, q_rows, shuffles, final_shuffles)]
    cpu = torch.device("cpu")
    for a in range(0, n_edges, NUMBA_BLOCK):
        b = min(a + NUMBA_BLOCK, n_edges)
        theta0 = critics.init(keys[a:b], seed, cpu).numpy()
        est, steps = train_edges(
            *args, ex2[a:b], ey2[a:b], theta0, *tables, batch=batch, bound=bound, hidden=critics.h,
            lr=float(opts["lr"]), rate=float(opts["ma_rate"]), tau=float(opts.get("tau", 0.0)),
            patience=int(opts["patience"]), min_steps=int(opts["min_steps"]), max_steps=int(opts["steps"]),
            eval_every=eval_every, tol=float(opts["tol"]), ema=float(opts.get("ema", 0.0)),
            quiet_below=float(opts.get("quiet_below", 0.0)), quiet_patience=int(opts.get("quiet_patience", 1)),
        )
        out[a:b], steps_taken[a:b] = est, steps
        if progress is not None:
            progress(done_offset + b, total)
    return out


#: Edges per launch of the Triton kernel (progress is reported between launches): enough
#: programs to fill a large GPU many times over (two per SM resident at the defaults); small
#: under the CPU interpreter.
TRITON_BLOCK, TRITON_BLOCK_INTERPRETED = 1 << 14, 16


def _train_triton(critics, x_tr, y_tr, x_ho, y_ho, ex_t, ey_t, keys, seed, x_rows, q_rows, shuffles, final_shuffles,
                  batch, eval_every, bound, opts, out, steps_taken, progress, done_offset, total, dev) -> np.ndarray:
    """:func:`train_bounds` through the Triton kernel (:mod:`._triton`), one program per edge,
    in launches of :data:`TRITON_BLOCK` edges."""
    from ..errors import ValidationError
    from ._triton import interpreting, too_large, train_edges, unavailable

    why = unavailable(dev) or too_large(critics.h, batch, critics.din)
    if why is not None:
        raise ValidationError(why)
    n_edges = int(ey_t.shape[0])
    block = TRITON_BLOCK_INTERPRETED if interpreting() else TRITON_BLOCK
    for a in range(0, n_edges, block):
        b = min(a + block, n_edges)
        est, steps = train_edges(
            x_tr, y_tr, x_ho, y_ho, ex_t[a:b], ey_t[a:b], critics.init(keys[a:b], seed, dev), x_rows, q_rows,
            shuffles, final_shuffles, batch=batch, bound=bound, hidden=critics.h, lr=float(opts["lr"]),
            rate=float(opts["ma_rate"]), tau=float(opts.get("tau", 0.0)), patience=int(opts["patience"]),
            min_steps=int(opts["min_steps"]), max_steps=int(opts["steps"]), eval_every=eval_every,
            tol=float(opts["tol"]), ema=float(opts.get("ema", 0.0)), quiet_below=float(opts.get("quiet_below", 0.0)),
            quiet_patience=int(opts.get("quiet_patience", 1)),
        )
        out[a:b], steps_taken[a:b] = est, steps
        if progress is not None:
            progress(done_offset + b, total)
    return out


def fused_step(theta, m, v, t, log_ma, x_flat, y_flat, x_off, q_off, x_rows, q_rows, *, batch, lr, rate, bound):
    """One training step of every critic in the pool, written element-wise (gathers, both
    layers, the loss gradient, the hand-written backward pass and Adam) so that
    ``torch.compile`` fuses it into a few kernels without materialising the inputs; the
    GPU path. Same mathematics as the ``bmm`` path; returns the new
    ``theta, m, v, t, log_ma``.

    ``x_off (A, dx, 1)`` / ``q_off (A, dq, 1)``: where each edge's x / q rows start in the flat
    tables; ``x_rows`` / ``q_rows (T, 2B)``: the batch rows of every step.
    """
    a, p = theta.shape
    dx, dq = x_off.shape[1], q_off.shape[1]
    h = (p - 1) // (dx + dq + 2)  # P = (dx + dq + 1) H + H + 1
    n_w1 = (dx + dq + 1) * h
    w1 = theta[:, :n_w1].view(a, dx + dq + 1, h)
    wx, wq, wb = w1[:, :dx], w1[:, dx : dx + dq], w1[:, dx + dq]  # (A, dx, H), (A, dq, H), (A, H)
    w2, b2 = theta[:, n_w1 : n_w1 + h], theta[:, -1]
    step = t.long()  # (A,) each edge's own step: row of the tables
    xv = x_flat[x_off + x_rows[step].unsqueeze(1)]  # (A, dx, 2B)
    qv = y_flat[q_off + q_rows[step].unsqueeze(1)]  # (A, dq, 2B)
    pre = (wx.unsqueeze(3) * xv.unsqueeze(2)).sum(1) + (wq.unsqueeze(3) * qv.unsqueeze(2)).sum(1) + wb.unsqueeze(2)  # (A, H, 2B)
    hid = pre.clamp_min(0.0)
    crit = (w2.unsqueeze(2) * hid).sum(1) + b2.unsqueeze(1)  # (A, 2B)
    tj, tm = crit[:, :batch], crit[:, batch:]
    if bound == "mine":
        lme = torch.logsumexp(tm, 1) - math.log(batch)
        upd = torch.logaddexp(log_ma + math.log(1.0 - rate), lme + math.log(rate))
        log_ma = torch.where(torch.isnan(log_ma), lme, upd)
        dt = torch.cat([torch.full_like(tj, -1.0 / batch), torch.exp(tm - log_ma.unsqueeze(1)) / batch], 1)
    else:
        dt = torch.cat([-torch.sigmoid(-tj) / batch, torch.sigmoid(tm) / batch], 1)
    g_w2 = (dt.unsqueeze(1) * hid).sum(2)  # (A, H)
    g_pre = dt.unsqueeze(1) * (pre > 0).to(pre.dtype) * w2.unsqueeze(2)  # (A, H, 2B)
    g_wx = (xv.unsqueeze(2) * g_pre.unsqueeze(1)).sum(3)  # (A, dx, H)
    g_wq = (qv.unsqueeze(2) * g_pre.unsqueeze(1)).sum(3)  # (A, dq, H)
    g_wb = g_pre.sum(2)
    grad = torch.cat([torch.cat([g_wx, g_wq, g_wb.unsqueeze(1)], 1).reshape(a, -1), g_w2, dt.sum(1, keepdim=True)], 1)
    t = t + 1.0
    m = m * _ADAM_B1 + grad * (1.0 - _ADAM_B1)
    v = v * _ADAM_B2 + grad * grad * (1.0 - _ADAM_B2)
    c1 = 1.0 - torch.pow(_ADAM_B1, t)
    c2 = 1.0 - torch.pow(_ADAM_B2, t)
    theta = theta - (lr / c1).unsqueeze(1) * m / ((v / c2.unsqueeze(1)).sqrt() + _ADAM_EPS)
    return theta, m, v, t, log_ma


_COMPILED: dict[str, Callable] = {}


def compiled_step() -> Callable:
    """:func:`fused_step` through ``torch.compile`` (dynamic pool width), compiled once per
    process; the plain function where compilation is unavailable. ``torch.compile`` compiles
    at the first call, so that is where a missing backend or C compiler shows: the first call
    then warns once and this process keeps the plain function (it is functional, so the failed
    call changed nothing)."""
    if "step" not in _COMPILED:
        try:
            compiled = torch.compile(fused_step, dynamic=True)
        except Exception:  # pragma: no cover - no compiler backend
            compiled = None
        _COMPILED["step"] = fused_step if compiled is None else _first_call_guarded(compiled)
    return _COMPILED["step"]


def _first_call_guarded(compiled: Callable) -> Callable:
    chosen: list[Callable] = []

    def step(*args, **kwargs):
        if chosen:
            return chosen[0](*args, **kwargs)
        try:
            out = compiled(*args, **kwargs)
        except Exception as exc:
            warnings.warn(f"torch.compile could not compile the fused step ({type(exc).__name__}: "
                          f"{first_line(exc, 200)}); it runs uncompiled (same values, slower)", RuntimeWarning,
                          stacklevel=2)
            chosen.append(fused_step)
            _COMPILED["step"] = fused_step
            return fused_step(*args, **kwargs)
        chosen.append(compiled)
        return out

    return step


def _adam(pool: _Pool, grad: torch.Tensor, lr: float, work) -> None:
    num, den = work  # (A, P) buffers
    pool.t += 1.0
    pool.m.mul_(_ADAM_B1).add_(grad, alpha=1.0 - _ADAM_B1)
    pool.v.mul_(_ADAM_B2).addcmul_(grad, grad, value=1.0 - _ADAM_B2)
    c1 = 1.0 - torch.pow(_ADAM_B1, pool.t)  # (A,) per-edge bias corrections
    c2 = 1.0 - torch.pow(_ADAM_B2, pool.t)
    torch.div(pool.v, c2.unsqueeze(1), out=den).sqrt_().add_(_ADAM_EPS)
    torch.mul((lr / c1).unsqueeze(1), pool.m, out=num)
    pool.theta.addcdiv_(num, den, value=-1.0)


@torch.no_grad()
def _heldout(critics, theta, x_ho, y_ho, ex_p, ey_p, shuffles, bound, tau) -> torch.Tensor:
    """Bound ``(A,)`` of each critic on the held-out samples (marginal over K shuffles)."""
    a, dx = ex_p.shape
    dq = ey_p.shape[1]
    n = x_ho.shape[1]
    ye = y_ho[ey_p]  # (A, dq, n)
    inp = torch.cat([x_ho[ex_p], ye, ye.new_ones(a, 1, n)], 1)  # (A, dx+dq+1, n)
    hid = ye.new_empty(a, critics.h, n)
    tj = critics.forward(theta, inp, hid)[0].mean(1)
    lse = []
    for s in shuffles:  # every q input of a sample moves together
        inp[:, dx : dx + dq] = torch.index_select(ye, 2, s)
        tm, _ = critics.forward(theta, inp, hid)  # (A, n)
        if bound == "smile":
            tm = tm.clamp(-tau, tau)
        lse.append(torch.logsumexp(tm, 1))
    log_mean_q = torch.logsumexp(torch.stack(lse, 1), 1) - math.log(n * len(shuffles))
    return tj - log_mean_q

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
``min_steps``) or that reached ``steps`` is frozen and leaves the pool, and a waiting edge
takes its place, so the pool stays ``chunk_size`` wide and cache-sized until the queue ends.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

DEFAULTS: dict[str, object] = {
    "steps": 1000,  # max training steps per edge
    "batch_size": 128,  # as accurate as 256 in bench_accuracy (MAE 0.032), 1.7x faster
    "hidden": 16,
    "lr": 0.01,
    "chunk_size": 256,  # edges trained together (the pool width)
    "eval_every": 50,
    "patience": 3,  # evaluations without improvement before an edge is frozen
    "min_steps": 200,
    "tol": 0.001,  # nats: smaller held-out gains do not count as improvement
    "holdout": 0.25,
    "eval_shuffles": 4,  # shuffles of the held-out q for early stopping
    "final_shuffles": 32,  # shuffles for the reported estimate
    "ma_rate": 0.01,
    "copula": True,
    "threads": 1,  # torch threads; the ops are small, so more threads rarely pay (see docs)
}
SMILE_DEFAULTS: dict[str, object] = {**DEFAULTS, "tau": 5.0}

#: Diagnostics of the latest call (steps each edge trained), read by scripts/bench_*.py.
LAST_RUN: dict[str, np.ndarray] = {}

_ADAM_B1, _ADAM_B2, _ADAM_EPS = 0.9, 0.999, 1e-8


def min_samples(opts: dict) -> int:
    return 40


_RANGES = {  # name: (low, high, inclusive-low) for the float options
    "lr": (0.0, math.inf, False),
    "holdout": (0.05, 0.9, True),
    "ma_rate": (0.0, 1.0, False),
    "tol": (0.0, math.inf, True),
    "tau": (0.0, math.inf, False),
}


def check_options(opts: dict, owner: str) -> None:
    """Range checks beyond the types checked by ``merge_options``."""
    from ..errors import param_error

    for name, (lo, hi, closed) in _RANGES.items():
        if name in opts:
            v = opts[name]
            if not ((v >= lo if closed else v > lo) and v <= hi):
                expected = f"in {'[' if closed else '('}{lo}, {hi}]"
                raise param_error(name, owner, expected, v)


class _Pool:
    """Parameters and optimiser state of the edges being trained, one row per edge."""

    def __init__(self, n_param: int) -> None:
        self.eid = torch.zeros(0, dtype=torch.long)  # (A,) global edge ids
        self.theta = torch.zeros(0, n_param)  # (A, P) critic weights
        self.m = torch.zeros(0, n_param)  # (A, P) Adam first moment
        self.v = torch.zeros(0, n_param)  # (A, P) Adam second moment
        self.t = torch.zeros(0)  # (A,) steps taken
        self.log_ma = torch.zeros(0)  # (A,) log moving average of E_Q[e^T]
        self.best = torch.zeros(0)  # (A,) best held-out bound
        self.best_theta = torch.zeros(0, n_param)  # (A, P) weights at the best bound
        self.stale = torch.zeros(0, dtype=torch.long)  # (A,) evaluations without gain

    def __len__(self) -> int:
        return int(self.eid.shape[0])

    def add(self, eid: torch.Tensor, theta: torch.Tensor) -> None:
        k = eid.shape[0]
        self.eid = torch.cat([self.eid, eid])
        self.theta = torch.cat([self.theta, theta])
        self.m = torch.cat([self.m, torch.zeros_like(theta)])
        self.v = torch.cat([self.v, torch.zeros_like(theta)])
        self.t = torch.cat([self.t, torch.zeros(k)])
        self.log_ma = torch.cat([self.log_ma, torch.full((k,), float("nan"))])
        self.best = torch.cat([self.best, torch.full((k,), -math.inf)])
        self.best_theta = torch.cat([self.best_theta, theta])
        self.stale = torch.cat([self.stale, torch.zeros(k, dtype=torch.long)])

    def keep(self, mask: torch.Tensor) -> None:
        for name in ("eid", "theta", "m", "v", "t", "log_ma", "best", "best_theta", "stale"):
            setattr(self, name, getattr(self, name)[mask])


class _Critics:
    """Forward pass and hand-written backward pass of the stacked critics.

    Inputs are stored transposed, ``inp (A, D, M)`` with ``D = din + 1`` rows (the x columns,
    ``q``, and a row of ones for the bias) and the ``M`` samples contiguous; the hidden layer is
    ``(A, H, M)``. In this layout all four products are plain row-major ``bmm``s (see docs).
    """

    def __init__(self, din: int, hidden: int) -> None:
        self.din, self.h = din, hidden  # din = dx + 1 (+1 bias row inside W1)
        self.n_w1 = (din + 1) * hidden
        self.n_param = self.n_w1 + hidden + 1

    def init(self, k: int, gen: torch.Generator) -> torch.Tensor:
        """Fresh weights ``(k, P)``: He-normal first layer, small second layer, b2 = 0."""
        d, h = self.din, self.h
        w_in = torch.randn(k, d, h, generator=gen) * math.sqrt(2.0 / d)
        b_in = torch.randn(k, 1, h, generator=gen) * 0.5
        w2 = torch.randn(k, h, generator=gen) * (1.0 / math.sqrt(h))
        b2 = torch.zeros(k, 1)
        return torch.cat([torch.cat([w_in, b_in], 1).reshape(k, -1), w2, b2], 1)

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


def train_bounds(
    xs: np.ndarray,
    ys: np.ndarray,
    ex: np.ndarray,
    ey: np.ndarray,
    *,
    bound: str,
    opts: dict,
    seed: int,
    progress: Callable[[int, int], None] | None = None,
    done_offset: int = 0,
    total: int | None = None,
) -> np.ndarray:
    """Train one critic per edge and return each edge's held-out bound ``(E,)`` in nats.

    Parameters
    ----------
    xs : (N, cx) float array, the x-side variables (already normal scores / standardised).
    ys : (N, cy) float array, the q-side variables.
    ex : (E, dx) int array, the x columns each edge's critic sees.
    ey : (E,) int array, the q column of each edge.
    """
    n_edges = int(ey.shape[0])
    total = n_edges if total is None else total
    out = np.zeros(n_edges)
    if n_edges == 0:
        return out
    gen = torch.Generator().manual_seed(int(seed))
    n = xs.shape[0]
    n_hold = max(int(round(opts["holdout"] * n)), 10)
    perm = torch.randperm(n, generator=gen)
    hold, train = perm[:n_hold], perm[n_hold:]
    xs_t = torch.as_tensor(np.ascontiguousarray(xs.T), dtype=torch.float32)  # (cx, N)
    ys_t = torch.as_tensor(np.ascontiguousarray(ys.T), dtype=torch.float32)  # (cy, N)
    x_tr, y_tr = xs_t[:, train].contiguous(), ys_t[:, train].contiguous()
    x_ho, y_ho = xs_t[:, hold].contiguous(), ys_t[:, hold].contiguous()
    n_tr = x_tr.shape[1]
    ex_t = torch.as_tensor(ex, dtype=torch.long)  # (E, dx)
    ey_t = torch.as_tensor(ey, dtype=torch.long)  # (E,)
    dx = ex_t.shape[1]
    critics = _Critics(dx + 1, int(opts["hidden"]))
    batch = min(int(opts["batch_size"]), n_tr)
    shuffles = torch.stack(
        [torch.randperm(n_hold, generator=gen) for _ in range(int(opts["eval_shuffles"]))]
    )  # (K, n_hold)
    final_shuffles = torch.stack(
        [torch.randperm(n_hold, generator=gen) for _ in range(int(opts["final_shuffles"]))]
    )  # (K', n_hold)
    lr, rate = float(opts["lr"]), float(opts["ma_rate"])
    tau = float(opts.get("tau", 0.0))
    eval_every, chunk = int(opts["eval_every"]), int(opts["chunk_size"])
    patience, min_steps, max_steps = (
        int(opts["patience"]),
        int(opts["min_steps"]),
        int(opts["steps"]),
    )
    tol = float(opts["tol"])

    pool = _Pool(critics.n_param)
    # Work buffers sized for a full pool, reused every step (views [:A] when the pool is
    # smaller): ops writing a fresh (A, H, 2B) tensor every step cost 3-5x the same ops
    # writing into a reused buffer (see docs).
    m2, d_in, h = 2 * batch, dx + 2, critics.h
    chunk = min(chunk, n_edges)  # the pool never holds more edges than there are
    hid_buf = torch.empty(chunk, h, m2)
    t_buf = torch.empty(chunk, 1, m2)
    dt_buf = torch.full((chunk, m2), -1.0 / batch)  # mine: the joint half is constant
    grad_buf = torch.empty(chunk, critics.n_param)
    adam_buf = (torch.empty(chunk, critics.n_param), torch.empty(chunk, critics.n_param))
    work_buf = (torch.empty(chunk, d_in, m2), torch.empty(chunk, d_in, h), torch.empty(chunk, 1, h))
    steps_taken = np.zeros(n_edges)
    nxt, done = 0, 0
    while nxt < n_edges or len(pool) > 0:
        if len(pool) < chunk and nxt < n_edges:  # refill the pool from the queue
            k = min(chunk - len(pool), n_edges - nxt)
            pool.add(torch.arange(nxt, nxt + k), critics.init(k, gen))
            nxt += k
        ex_p, ey_p = ex_t[pool.eid], ey_t[pool.eid]  # (A, dx), (A,)
        a = len(pool)
        # inputs (A, dx+2, 2B) as a view of a (dx+2, A, 2B) block: rows x columns, q, ones
        # (the last row stays 1); each row block is filled by one contiguous index_select
        inp_rows = torch.ones(d_in, a, m2)
        inp = inp_rows.permute(1, 0, 2)
        ex_rows = ex_p.T.reshape(-1)  # (dx * A,)
        hid, tt = hid_buf[:a], t_buf[:a]
        dt, grad, work = dt_buf[:a], grad_buf[:a], tuple(w[:a] for w in work_buf)
        adam_work = (adam_buf[0][:a], adam_buf[1][:a])
        dtj, dtm = dt[:, :batch], dt[:, batch:]
        n_steps = min(eval_every, max_steps)
        for _ in range(n_steps):
            idx = torch.randint(n_tr, (batch,), generator=gen)
            shuf = torch.randperm(batch, generator=gen)
            _gather_inputs(x_tr, y_tr, ex_rows, ey_p, idx, shuf, inp_rows)
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
        est = _heldout(critics, pool.theta, x_ho, y_ho, ex_p, ey_p, shuffles, bound, tau)
        gain = est > pool.best + tol
        pool.stale = torch.where(gain, torch.zeros_like(pool.stale), pool.stale + 1)
        pool.best = torch.maximum(pool.best, est)
        pool.best_theta[gain] = pool.theta[gain]
        finished = ((pool.t >= min_steps) & (pool.stale >= patience)) | (pool.t >= max_steps)
        if bool(finished.any()):
            # final estimate: the best critic, marginal term over more (fresh) shuffles
            final = _heldout(
                critics, pool.best_theta[finished], x_ho, y_ho, ex_p[finished],
                ey_p[finished], final_shuffles, bound, tau,
            )
            out[pool.eid[finished].numpy()] = final.double().numpy()
            steps_taken[pool.eid[finished].numpy()] = pool.t[finished].numpy()
            done += int(finished.sum())
            pool.keep(~finished)
            if progress is not None:
                progress(done_offset + done, total)
    LAST_RUN["steps"] = steps_taken  # diagnostics for the benchmarks
    return out


def _gather_inputs(x_tr, y_tr, ex_rows, ey_p, idx, shuf, inp_rows) -> None:
    """Write the batch's critic inputs into ``inp_rows (dx+2, A, 2B)`` (last row stays 1).

    Columns ``:B`` are joint samples ``(x_b, q_b)``, columns ``B:`` the product of marginals
    ``(x_b, q_shuf(b))``. The batch columns are first taken from the small ``(cx, n)`` and
    ``(cy, n)`` tables (cache-resident), then each edge's rows are copied contiguously.
    """
    dx, a = inp_rows.shape[0] - 2, inp_rows.shape[1]
    xb = x_tr.index_select(1, torch.cat([idx, idx]))  # (cx, 2B)
    yb = y_tr.index_select(1, torch.cat([idx, idx[shuf]]))  # (cy, 2B)
    torch.index_select(xb, 0, ex_rows, out=inp_rows[:dx].view(dx * a, -1))
    torch.index_select(yb, 0, ey_p, out=inp_rows[dx])


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
    n = x_ho.shape[1]
    ye = y_ho[ey_p]  # (A, n)
    inp = torch.cat([x_ho[ex_p], ye.unsqueeze(1), torch.ones(a, 1, n)], 1)  # (A, dx+2, n)
    hid = torch.empty(a, critics.h, n)
    tj = critics.forward(theta, inp, hid)[0].mean(1)
    lse = []
    for s in shuffles:
        torch.index_select(ye, 1, s, out=inp[:, dx])
        tm, _ = critics.forward(theta, inp, hid)  # (A, n)
        if bound == "smile":
            tm = tm.clamp(-tau, tau)
        lse.append(torch.logsumexp(tm, 1))
    log_mean_q = torch.logsumexp(torch.stack(lse, 1), 1) - math.log(n * len(shuffles))
    return tj - log_mean_q

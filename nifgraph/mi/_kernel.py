"""The CPU training loop of the neural estimators, compiled with numba (the default on a CPU).

Same mathematics, same random choices and the same stopping rule as the batched ``bmm`` path
of :mod:`._mine` (which stays the GPU path and the reference): one critic
``T(x, q) = w2 . relu(Wx x + wq q + wb) + b2`` per edge, the DV (``mine``) or Jensen-Shannon
(``smile``) gradient written by hand, Adam, held-out evaluation every ``eval_every`` steps,
early stopping, the best critic's bound over the final shuffles. What differs is the order of
the work: the batched path streams every edge of a pool through four thin ``bmm``s per step,
each reading and writing ``(A, H, 2B)`` activations in memory; here one edge is trained from
start to end while its activations ``(H, 2B)`` (16 KiB at the defaults) stay in the L1 cache,
the forward and backward passes are fused into two loops over the samples that the compiler
vectorises, and ``exp`` is a polynomial that vectorises too. Measured side by side in
``scripts/bench_speed.py`` (section e) and ``docs/estimators.md``.

Values agree with the ``bmm`` path to float32 rounding, which training can amplify over
hundreds of steps: both are the same estimator, not bit-identical (tests/test_mi_kernel.py
checks the agreement on known-MI pairs and exact equality of the first step's gradient).
Each edge depends only on the seed, its data and its key, as on every path.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np

from .._target import PORTABLE_TARGET, pin_numba_target  # noqa: F401 - PORTABLE_TARGET re-exported

TARGET = pin_numba_target()  # already done by ``import nifgraph``; None where not pinned


try:  # numba is a core dependency; the import is guarded so a broken install falls back
    import numba

    HAVE_NUMBA = True
except Exception:  # pragma: no cover - numba missing or broken: the bmm path runs instead
    numba = None
    HAVE_NUMBA = False

__all__ = ["HAVE_NUMBA", "ensure_cached", "train_edges", "first_gradient"]

_B1, _B2, _EPS = 0.9, 0.999, 1e-8
_LN2 = math.log(2.0)


#: Reassociation (so that sums over the samples vectorise) and signed zeros, nothing else.
#: A loop that both stores and sums is compiled in two versions, vectorised and scalar, chosen
#: at run time by whether its buffers overlap, and the two round a reassociated sum
#: differently: results then depended on where buffers happened to lie (seen: two identical
#: calls 2e-3 nats apart). So every loop here that sums only reads memory (one version), and
#: contraction to FMA is off (a loop that stores could be contracted in one version only).
#: Not "nnan"/"ninf": the loop tests NaN (a fresh moving average) and starts from -inf.
_FAST = {"reassoc", "nsz"}


#: Also fused multiply-adds, for the backward pass only: every loop there over the samples only
#: reads memory (one compiled version), so fusing cannot depend on where buffers lie; ~10 %
#: faster there.
_FAST_CONTRACT = _FAST | {"contract"}


def _jit(fn, flags=_FAST):
    if not HAVE_NUMBA:  # pragma: no cover
        return fn
    return numba.njit(cache=True, fastmath=flags, nogil=True, error_model="numpy")(fn)


def _jit_contract(fn):
    return _jit(fn, _FAST_CONTRACT)


@_jit
def _exp_neg(z):
    """``exp(z)`` for ``z <= 0`` (float32 in, float32 out), vectorisable: ``z`` is clipped at
    -87.0 (``exp`` underflows there), scaled by 2^-8, a degree-7 Taylor polynomial taken and
    squared eight times. Relative error <= 2e-6 (checked against ``np.exp`` in the tests)."""
    r = max(z, np.float32(-87.0)) * np.float32(1.0 / 256.0)  # r in [-0.34, 0]
    p = np.float32(1.0) + r * (np.float32(1.0) + r * (np.float32(0.5) + r * (np.float32(1.0 / 6.0) + r * (
        np.float32(1.0 / 24.0) + r * (np.float32(1.0 / 120.0) + r * (np.float32(1.0 / 720.0) + r * np.float32(1.0 / 5040.0)))))))
    for _ in range(8):
        p = p * p
    return p


@_jit
def _x_part(theta, xin, ax, dx, d_in, h, n):
    """The x variables' share of every hidden unit's pre-activation, bias included:
    ``ax[k, m] = W1[d_in, k] + sum_d W1[d, k] xin[d, m]`` for ``m < n``. Weight ``W1[d, k]`` is
    ``theta[d * h + k]`` (the x rows, then the q rows, then the bias row ``d = d_in``), then
    ``w2`` and ``b2``. Loops that store and do not sum (see _FAST)."""
    for k in range(h):
        wb = theta[d_in * h + k]
        if dx == 1:
            w0 = theta[k]
            for m in range(n):
                ax[k, m] = w0 * xin[0, m] + wb
        elif dx == 2:
            w0, w1 = theta[k], theta[h + k]
            for m in range(n):
                ax[k, m] = w0 * xin[0, m] + w1 * xin[1, m] + wb
        else:
            for m in range(n):
                ax[k, m] = wb
            for d in range(dx):
                w = theta[d * h + k]
                for m in range(n):
                    ax[k, m] += w * xin[d, m]


@_jit
def _critic(theta, ax, qin, hid, t, dx, dq, h, n, need_t):
    """Critic values ``t[:n]`` of the samples whose x share is ``ax[:, :n]`` and whose q inputs
    are ``qin[:, :n]``; hidden ``hid[:, :n]`` kept (``need_t`` False: the hidden layer only)."""
    d_in = dx + dq
    n_w1 = (d_in + 1) * h
    if need_t:
        b2 = theta[n_w1 + h]
        for m in range(n):
            t[m] = b2
    for k in range(h):
        w2 = theta[n_w1 + k]
        if dq == 1:
            v0 = theta[dx * h + k]
            if need_t:
                for m in range(n):
                    p = max(ax[k, m] + v0 * qin[0, m], np.float32(0.0))
                    hid[k, m] = p
                    t[m] += w2 * p
            else:
                for m in range(n):
                    hid[k, m] = max(ax[k, m] + v0 * qin[0, m], np.float32(0.0))
        elif dq == 2:
            v0, v1 = theta[dx * h + k], theta[(dx + 1) * h + k]
            if need_t:
                for m in range(n):
                    p = max(ax[k, m] + v0 * qin[0, m] + v1 * qin[1, m], np.float32(0.0))
                    hid[k, m] = p
                    t[m] += w2 * p
            else:
                for m in range(n):
                    hid[k, m] = max(ax[k, m] + v0 * qin[0, m] + v1 * qin[1, m], np.float32(0.0))
        else:
            for m in range(n):
                hid[k, m] = ax[k, m]
            for j in range(dq):
                v = theta[(dx + j) * h + k]
                for m in range(n):
                    hid[k, m] += v * qin[j, m]
            for m in range(n):
                hid[k, m] = max(hid[k, m], np.float32(0.0))
            if need_t:
                for m in range(n):
                    t[m] += w2 * hid[k, m]


@_jit
def _critic_values(theta, ax, qin, hid, t, dx, dq, h, n):
    """Critic values ``t[:n]`` only (the held-out passes: no backward pass, so the hidden layer
    is not kept; ``hid`` is scratch for the generic case). Hidden units go in pairs, so each
    pass over the samples reads and writes ``t`` once for two of them."""
    d_in = dx + dq
    n_w1 = (d_in + 1) * h
    b2 = theta[n_w1 + h]
    for m in range(n):
        t[m] = b2
    if dq > 2:
        _critic(theta, ax, qin, hid, t, dx, dq, h, n, True)
        return
    k = 0
    zero = np.float32(0.0)
    while k + 1 < h:
        wa, wb = theta[n_w1 + k], theta[n_w1 + k + 1]
        if dq == 1:
            va, vb = theta[dx * h + k], theta[dx * h + k + 1]
            for m in range(n):
                q0 = qin[0, m]
                t[m] += wa * max(ax[k, m] + va * q0, zero) + wb * max(ax[k + 1, m] + vb * q0, zero)
        else:
            va, vb = theta[dx * h + k], theta[dx * h + k + 1]
            ua, ub = theta[(dx + 1) * h + k], theta[(dx + 1) * h + k + 1]
            for m in range(n):
                q0, q1 = qin[0, m], qin[1, m]
                t[m] += (wa * max(ax[k, m] + va * q0 + ua * q1, zero)
                         + wb * max(ax[k + 1, m] + vb * q0 + ub * q1, zero))
        k += 2
    if k < h:  # an odd hidden width: the last unit alone
        w2 = theta[n_w1 + k]
        v0 = theta[dx * h + k]
        v1 = theta[(dx + 1) * h + k] if dq == 2 else np.float32(0.0)
        if dq == 1:
            for m in range(n):
                t[m] += w2 * max(ax[k, m] + v0 * qin[0, m], zero)
        else:
            for m in range(n):
                t[m] += w2 * max(ax[k, m] + v0 * qin[0, m] + v1 * qin[1, m], zero)


@_jit
def _heldout(theta, x_ho, y_ho, ex_e, ey_e, shuffles, bound, tau, xin, qin, ax, hid, t, h):
    """Held-out bound of one critic: ``mean_P T - log mean_Q e^T`` (Q over ``shuffles``: every
    q row of the sample moves together). The x share of the pre-activations is computed once,
    for the joint pass and every shuffle."""
    n = x_ho.shape[1]
    dx, dq = ex_e.shape[0], ey_e.shape[0]
    for d in range(dx):
        for m in range(n):
            xin[d, m] = x_ho[ex_e[d], m]
    for j in range(dq):
        for m in range(n):
            qin[j, m] = y_ho[ey_e[j], m]
    _x_part(theta, xin, ax, dx, dx + dq, h, n)
    _critic_values(theta, ax, qin, hid, t, dx, dq, h, n)
    tj = np.float32(0.0)
    for m in range(n):
        tj += t[m]
    tj /= n
    k_sh = shuffles.shape[0]
    lse = np.empty(k_sh)
    for s in range(k_sh):
        for j in range(dq):
            for m in range(n):
                qin[j, m] = y_ho[ey_e[j], shuffles[s, m]]
        _critic_values(theta, ax, qin, hid, t, dx, dq, h, n)
        if bound == 1:  # smile: the clipped ratio
            for m in range(n):
                t[m] = min(max(t[m], -tau), tau)
        mx = t[0]
        for m in range(n):
            mx = max(mx, t[m])
        acc = np.float32(0.0)
        for m in range(n):
            acc += _exp_neg(t[m] - mx)
        lse[s] = mx + math.log(acc)
    mx = lse.max()
    acc2 = 0.0
    for s in range(k_sh):
        acc2 += math.exp(lse[s] - mx)
    return tj - (mx + math.log(acc2) - math.log(n * k_sh))


@_jit_contract
def _backward(theta, h1, h2, d1, d2, xin, q1, q2, g1, g2, grad, dx, dq, h, batch):
    """The backward pass of one step (into ``grad``) from the loss gradient ``d1``/``d2`` of
    the critic values and the hidden layers ``h1``/``h2`` of the two halves. Its loops over the
    samples only read memory (the generic case's masks aside, which involve no arithmetic), so
    each is compiled in one version and multiply-adds may be fused (see _FAST_CONTRACT)."""
    d_in = dx + dq
    n_w1 = (d_in + 1) * h
    g_b2 = np.float32(0.0)
    for m in range(batch):
        g_b2 += d1[m] + d2[m]
    zero = np.float32(0.0)
    for k in range(h):
        w2 = theta[n_w1 + k]
        s2 = np.float32(0.0)
        sb = np.float32(0.0)
        if dx == 2 and dq == 2:  # the default critic: one pass over the sample pairs
            s0 = np.float32(0.0)
            s1 = np.float32(0.0)
            r0 = np.float32(0.0)
            r1 = np.float32(0.0)
            for m in range(batch):
                hj, hm, dj, dm = h1[k, m], h2[k, m], d1[m], d2[m]
                s2 += dj * hj + dm * hm
                gj = dj if hj > zero else zero
                gm = dm if hm > zero else zero
                g = gj + gm
                sb += g
                s0 += g * xin[0, m]
                s1 += g * xin[1, m]
                r0 += gj * q1[0, m] + gm * q2[0, m]
                r1 += gj * q1[1, m] + gm * q2[1, m]
            grad[k] = w2 * s0
            grad[h + k] = w2 * s1
            grad[2 * h + k] = w2 * r0
            grad[3 * h + k] = w2 * r1
        elif dx == 1 and dq == 1:
            s0 = np.float32(0.0)
            r0 = np.float32(0.0)
            for m in range(batch):
                hj, hm, dj, dm = h1[k, m], h2[k, m], d1[m], d2[m]
                s2 += dj * hj + dm * hm
                gj = dj if hj > zero else zero
                gm = dm if hm > zero else zero
                g = gj + gm
                sb += g
                s0 += g * xin[0, m]
                r0 += gj * q1[0, m] + gm * q2[0, m]
            grad[k] = w2 * s0
            grad[h + k] = w2 * r0
        else:
            for m in range(batch):  # the masked gradients (loops that store and do not sum)
                g1[m] = d1[m] if h1[k, m] > zero else zero
            for m in range(batch):
                g2[m] = d2[m] if h2[k, m] > zero else zero
            for m in range(batch):
                s2 += d1[m] * h1[k, m] + d2[m] * h2[k, m]
                sb += g1[m] + g2[m]
            for d in range(dx):
                sx = np.float32(0.0)
                for m in range(batch):
                    sx += (g1[m] + g2[m]) * xin[d, m]
                grad[d * h + k] = w2 * sx
            for j in range(dq):
                sq = np.float32(0.0)
                for m in range(batch):
                    sq += g1[m] * q1[j, m] + g2[m] * q2[j, m]
                grad[(dx + j) * h + k] = w2 * sq
        grad[d_in * h + k] = w2 * sb
        grad[n_w1 + k] = s2
    grad[n_w1 + h] = g_b2


@_jit
def _step_grad(theta, x_tr, y_tr, ex_e, ey_e, xr, qr, batch, bound, log_ma, rate, xin, q1, q2, ax, h1, h2,
               t1, t2, d1, d2, g1, g2, grad, h):
    """Gradient (into ``grad``) of the training loss at one step; returns the new ``log_ma``.

    The joint half of the batch (samples ``xr[:B]``, ``qr[:B]``) lives in ``q1``/``h1``/``t1``,
    the marginal half in ``q2``/``h2``/``t2``. The marginal half repeats the joint half's x rows
    (``xr[B + m] == xr[m]``, as ``_mine._tables`` draws them; only q is shuffled), so the x share
    of the pre-activations is computed for ``B`` samples and used twice, and the x weights'
    gradient sums ``g1[m] + g2[m]`` over ``B`` samples. With ``mine`` the joint half's critic
    values are not needed (their gradient is the constant ``-1/B``) and are not computed."""
    dx, dq = ex_e.shape[0], ey_e.shape[0]
    d_in = dx + dq
    for d in range(dx):
        row = ex_e[d]
        for m in range(batch):
            xin[d, m] = x_tr[row, xr[m]]
    for j in range(dq):
        row = ey_e[j]
        for m in range(batch):
            q1[j, m] = y_tr[row, qr[m]]
        for m in range(batch):
            q2[j, m] = y_tr[row, qr[batch + m]]
    _x_part(theta, xin, ax, dx, d_in, h, batch)
    _critic(theta, ax, q1, h1, t1, dx, dq, h, batch, bound != 0)
    _critic(theta, ax, q2, h2, t2, dx, dq, h, batch, True)
    inv_b = np.float32(1.0 / batch)
    if bound == 0:  # mine: moving average of E_Q[e^T] in the gradient's denominator
        mx = t2[0]
        for m in range(batch):
            mx = max(mx, t2[m])
        for m in range(batch):
            d2[m] = _exp_neg(t2[m] - mx)
        acc = np.float32(0.0)
        for m in range(batch):  # a loop that only reads: one version, see _FAST
            acc += d2[m]
        lme = mx + math.log(acc) - math.log(batch)
        if math.isnan(log_ma):
            log_ma = lme
        else:
            a, b = log_ma + math.log(1.0 - rate), lme + math.log(rate)
            hi = max(a, b)
            log_ma = hi + math.log(math.exp(a - hi) + math.exp(b - hi))
        scale = np.float32(math.exp(mx - log_ma) / batch)
        for m in range(batch):
            d1[m] = -inv_b
        for m in range(batch):
            d2[m] *= scale
    else:  # smile: the Jensen-Shannon bound
        for m in range(batch):
            d1[m] = -inv_b / (np.float32(1.0) + math.exp(t1[m]))  # -sigmoid(-t) / B
        for m in range(batch):
            d2[m] = inv_b / (np.float32(1.0) + math.exp(-t2[m]))  # sigmoid(t) / B
    _backward(theta, h1, h2, d1, d2, xin, q1, q2, g1, g2, grad, dx, dq, h, batch)
    return log_ma


@_jit
def _train(x_tr, y_tr, x_ho, y_ho, ex, ey, theta0, x_rows, q_rows, shuffles, final_shuffles,
           batch, bound, h, lr, rate, tau, patience, min_steps, max_steps, eval_every, tol, ema,
           quiet_below, quiet_patience, out, steps_out):
    n_edges, n_param = theta0.shape
    m2 = 2 * batch
    n_ho = x_ho.shape[1]
    width = max(m2, n_ho)
    dx, dq = ex.shape[1], ey.shape[1]
    xin = np.zeros((dx, width), dtype=np.float32)
    q1 = np.zeros((dq, width), dtype=np.float32)
    q2 = np.zeros((dq, batch), dtype=np.float32)
    ax = np.zeros((h, width), dtype=np.float32)
    h1 = np.zeros((h, width), dtype=np.float32)
    h2 = np.zeros((h, batch), dtype=np.float32)
    t1 = np.zeros(width, dtype=np.float32)
    t2 = np.zeros(batch, dtype=np.float32)
    d1 = np.zeros(batch, dtype=np.float32)
    d2 = np.zeros(batch, dtype=np.float32)
    g1 = np.zeros(batch, dtype=np.float32)
    g2 = np.zeros(batch, dtype=np.float32)
    grad = np.zeros(n_param, dtype=np.float32)
    theta = np.zeros(n_param, dtype=np.float32)
    avg = np.zeros(n_param, dtype=np.float32)  # the weights' moving average (ema > 0)
    best_theta = np.zeros(n_param, dtype=np.float32)
    mom = np.zeros(n_param, dtype=np.float32)
    vel = np.zeros(n_param, dtype=np.float32)
    keep = np.float32(1.0 - ema)
    take = np.float32(ema)
    for e in range(n_edges):
        theta[:] = theta0[e]
        avg[:] = theta0[e]
        best_theta[:] = theta0[e]
        mom[:] = 0.0
        vel[:] = 0.0
        log_ma = np.nan
        best = -np.inf
        stale = 0
        step = 0
        ex_e, ey_e = ex[e], ey[e]
        while True:
            for _ in range(eval_every):
                log_ma = _step_grad(theta, x_tr, y_tr, ex_e, ey_e, x_rows[step], q_rows[step], batch, bound,
                                    log_ma, rate, xin, q1, q2, ax, h1, h2, t1, t2, d1, d2, g1, g2, grad, h)
                step += 1
                c1 = 1.0 - _B1 ** step
                c2 = 1.0 - _B2 ** step
                a = np.float32(lr / c1)
                inv_c2 = np.float32(1.0 / c2)
                for p in range(n_param):
                    g = grad[p]
                    mom[p] = mom[p] * np.float32(_B1) + g * np.float32(1.0 - _B1)
                    vel[p] = vel[p] * np.float32(_B2) + g * g * np.float32(1.0 - _B2)
                    theta[p] -= a * mom[p] / (math.sqrt(vel[p] * inv_c2) + np.float32(_EPS))
                if ema > 0.0:
                    for p in range(n_param):
                        avg[p] = avg[p] * keep + theta[p] * take
            cur = avg if ema > 0.0 else theta
            est = _heldout(cur, x_ho, y_ho, ex_e, ey_e, shuffles, bound, tau, xin, q1, ax, h1, t1, h)
            est = np.float32(est)  # the bmm path compares float32 bounds
            if est > best + tol:
                stale = 0
                best_theta[:] = cur
            else:
                stale += 1
            best = max(best, est)
            need = quiet_patience if best < quiet_below else patience  # a quiet edge: see _mine.DEFAULTS
            if (step >= min_steps and stale >= need) or step >= max_steps:
                break
        out[e] = _heldout(best_theta, x_ho, y_ho, ex_e, ey_e, final_shuffles, bound, tau, xin, q1, ax, h1, t1, h)
        steps_out[e] = step


_READY = False
_WARMING = "NIFGRAPH_KERNEL_WARMING"


def ensure_cached() -> None:
    """Make the process run the loop from numba's on-disk cache, compiling it first in a child
    process when the cache has no entry for this machine's target.

    Why: the code numba compiles in a process and the same code loaded back from its cache round
    differently (measured: 3.2793 against 3.2693 nats summed over 32 edges, each value stable
    from run to run), so a seed's values depended on whether a process found the cache. With
    every process loading from the cache, they do not (and two machines of the same target get
    the same cache entry). If the child fails (no writable cache directory, say), the loop is
    compiled here as before. Called once per process before the first training."""
    global _READY
    if _READY or not HAVE_NUMBA or os.environ.get(_WARMING):
        return
    _READY = True
    if _train.signatures:  # compiled or loaded in this process already
        return
    if not is_cached():
        try:
            env, cwd = _child_env()
            subprocess.run([sys.executable, "-c", "from nifgraph.mi._kernel import warm; warm()"],
                           env=env, cwd=cwd, check=True, capture_output=True, timeout=900)
        except Exception:  # pragma: no cover - compiled in this process instead
            pass
    # Load the loop now, before anything else of this module is compiled in this process: a
    # helper compiled here first (the tests call _step_grad and _exp_neg directly) is what the
    # loaded loop then calls, which again changed the last bits.
    warm()


def is_cached() -> bool:
    """Whether the loop is ready without compiling: loaded in this process, or in numba's
    on-disk cache for this machine's target (``False`` without numba, or when numba's cache
    layout is not the one read here: then the first training compiles, ~10-30 s)."""
    if not HAVE_NUMBA:
        return False
    if _train.signatures:
        return True
    try:
        from numba.core.registry import cpu_target

        magic = cpu_target.target_context.codegen().magic_tuple()
        return any(key[1] == magic for key in _train._cache._cache_file._load_index())
    except Exception:  # pragma: no cover - numba internals moved
        return False


def _child_env() -> tuple[dict[str, str], str]:
    """Environment and working directory of the warming child: it must import *this* nifgraph
    (the directory holding the package first on its path, and as its working directory, which
    ``python -c`` puts first), or it warms another copy's cache (an installed one, or a
    checkout in the caller's working directory) and this process compiles the loop itself,
    which rounds differently from the cached loop of later processes (measured: 3e-8 nats)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, _WARMING: "1", "PYTHONPATH": path}, root


def warm() -> None:
    """Compile the loop (and write numba's cache) with a tiny training."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 64)).astype(np.float32)
    theta0 = (rng.standard_normal((1, 3 * 2 + 2 + 1)) * 0.1).astype(np.float32)
    idx = rng.integers(0, 64, (4, 4))
    rows = np.concatenate([idx, idx], 1)
    shuffles = np.argsort(rng.random((2, 64)), 1)
    train_edges(x, x, x, x, np.zeros((1, 1), np.int64), np.ones(1, np.int64), theta0, rows, rows, shuffles,
                shuffles, batch=4, bound="mine", hidden=2, lr=0.01, rate=0.01, tau=0.0, patience=1,
                min_steps=1, max_steps=2, eval_every=1, tol=0.001, ema=0.0, quiet_below=0.0, quiet_patience=1)


def train_edges(x_tr, y_tr, x_ho, y_ho, ex, ey, theta0, x_rows, q_rows, shuffles, final_shuffles, *,
                batch, bound, hidden, lr, rate, tau, patience, min_steps, max_steps, eval_every, tol, ema=0.0,
                quiet_below=0.0, quiet_patience=1):
    """Train the critics of the edges ``(ex[e], ey[e])`` one after another; returns their
    held-out bounds ``(E,)`` (float64) and the steps each trained ``(E,)``.

    ``x_tr (cx, n_tr)``/``y_tr (cy, n_tr)``: training samples, one row per variable;
    ``x_ho``/``y_ho``: held-out samples; ``ex (E, dx)``/``ey (E,)`` or ``(E, dq)``: the rows
    each critic reads; ``theta0 (E, P)``: initial weights (``_Critics`` layout);
    ``x_rows``/``q_rows (T, 2B)``: each step's rows; ``shuffles (K, n_ho)``,
    ``final_shuffles (K', n_ho)``: the held-out marginal's shuffles; ``ema``: rate of the
    weights' moving average that is evaluated and reported (0: the weights themselves);
    ``quiet_below``/``quiet_patience``: an edge whose best held-out bound is below
    ``quiet_below`` nats stops after ``quiet_patience`` evaluations without gain instead of
    ``patience`` (``quiet_below`` 0: off).
    """
    ensure_cached()
    f32 = np.float32
    n_edges = theta0.shape[0]
    x_rows = np.asarray(x_rows)
    if not np.array_equal(x_rows[:, :batch], x_rows[:, batch:]):  # what _step_grad relies on
        raise ValueError("train_edges: the marginal half of each step's x rows must repeat the joint half")
    out = np.zeros(n_edges)
    steps = np.zeros(n_edges, dtype=np.int64)
    ey2 = np.asarray(ey, dtype=np.int64).reshape(n_edges, -1)
    _train(
        np.ascontiguousarray(x_tr, dtype=f32), np.ascontiguousarray(y_tr, dtype=f32),
        np.ascontiguousarray(x_ho, dtype=f32), np.ascontiguousarray(y_ho, dtype=f32),
        np.ascontiguousarray(ex, dtype=np.int64), np.ascontiguousarray(ey2),
        np.ascontiguousarray(theta0, dtype=f32), np.ascontiguousarray(x_rows, dtype=np.int64),
        np.ascontiguousarray(q_rows, dtype=np.int64), np.ascontiguousarray(shuffles, dtype=np.int64),
        np.ascontiguousarray(final_shuffles, dtype=np.int64), int(batch), 0 if bound == "mine" else 1,
        int(hidden), float(lr), float(rate), f32(tau), int(patience), int(min_steps), int(max_steps),
        int(eval_every), f32(tol), float(ema), f32(quiet_below) if quiet_below > 0 else f32(-np.inf),
        int(quiet_patience), out, steps,
    )
    return out, steps


def first_gradient(theta, x_tr, y_tr, ex_e, ey_e, xr, qr, *, batch, bound, hidden, rate=0.01):
    """The gradient of one training step from fresh state (for the tests); ``ey_e`` an int
    (one q row) or a sequence of rows."""
    ensure_cached()  # the loop first (see ensure_cached), then this helper
    f32 = np.float32
    ex_a = np.asarray(ex_e, dtype=np.int64).reshape(-1)
    ey_a = np.asarray(ey_e, dtype=np.int64).reshape(-1)
    grad = np.empty(theta.shape[0], dtype=f32)
    b = int(batch)
    dx, dq = ex_a.size, ey_a.size
    bufs = (np.empty((dx, b), f32), np.empty((dq, b), f32), np.empty((dq, b), f32), np.empty((hidden, b), f32),
            np.empty((hidden, b), f32), np.empty((hidden, b), f32), *(np.empty(b, f32) for _ in range(6)))
    _step_grad(np.ascontiguousarray(theta, dtype=f32), np.ascontiguousarray(x_tr, dtype=f32),
               np.ascontiguousarray(y_tr, dtype=f32), ex_a, ey_a,
               np.asarray(xr, dtype=np.int64), np.asarray(qr, dtype=np.int64), b,
               0 if bound == "mine" else 1, np.nan, float(rate), *bufs, grad, int(hidden))
    return grad

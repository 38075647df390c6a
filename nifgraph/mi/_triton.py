"""The GPU training loop of the neural estimators as one Triton kernel (``kernel="triton"``).

The batched ``bmm`` step, the GPU path until now, streams every edge's ``(H, 2B)`` hidden layer
through GPU memory about six times a step (four thin batched GEMMs, the ReLU, its mask): at
~20k edges/s on an H100 it is bound by memory traffic, not arithmetic (docs/estimators.md). This
kernel is the design that profile pointed to: **one program per edge**, which trains its critic
from the first step to the final estimate with the hidden layer, the weights, Adam's moments,
the weights' average and the best weights in registers. Global memory is read only for the
samples (gathered through the per-step row tables) and written once, for the estimate.

Same mathematics, same random tables and the same stopping rule as :mod:`._kernel` (the CPU
loop) and the ``bmm`` path of :mod:`._mine`: the critic ``T = w2 . relu(W1 [x, q, 1]) + b2``,
the DV (``mine``, moving-average denominator) or Jensen-Shannon (``smile``) gradient written by
hand, Adam, the weights' moving average (``ema``), held-out evaluation every ``eval_every``
steps over the eval shuffles, early stopping (``patience``, ``quiet_below``/``quiet_patience``),
the best weights' bound over the final shuffles. Values agree with the other paths to float32
rounding after one step and to the estimator's noise after training (training amplifies
rounding; the same holds between the numba and ``bmm`` paths).

Where it runs: a CUDA GPU with the ``triton`` package (the ``gpu`` extra). The tests run the
same kernel on a CPU through Triton's interpreter (``TRITON_INTERPRET=1``, set before this
module is imported), which executes each program with numpy; that checks the mathematics,
not the speed. Not the default on a GPU until it is measured on one (``kernel="auto"`` picks
``bmm`` there): ``scripts/bench_gpu.py`` is the measurement to run.
"""

from __future__ import annotations

import contextlib
import math
import os

import numpy as np
import torch

try:  # an optional dependency (the ``gpu`` extra)
    import triton
    import triton.language as tl

    HAVE_TRITON = True
except Exception:  # pragma: no cover - triton missing or broken
    triton = None
    tl = None
    HAVE_TRITON = False

__all__ = ["HAVE_TRITON", "NUM_WARPS", "compile_for", "interpreting", "unavailable", "train_edges"]

#: Warps per program (one program trains one edge; ``(H, 2B)`` = 16 x 256 activations at the
#: defaults, 32 per thread with 4 warps). To be tuned on a GPU (scripts/bench_gpu.py --warps).
NUM_WARPS = 4


def interpreting() -> bool:
    """Whether this module's kernel runs in Triton's CPU interpreter: ``TRITON_INTERPRET=1``
    was set when the module was imported (Triton decides then) and is still set."""
    env = os.environ.get("TRITON_INTERPRET", "").strip().lower() in {"1", "true", "yes", "on"}
    return HAVE_TRITON and env and type(_train_kernel).__name__ == "InterpretedFunction"


#: Largest critic the kernel takes: the hidden layer ``(H, 2B)`` (powers of two) and the
#: critic's input rows (x rows + q rows + the bias) live in registers. The defaults are
#: 16 x 256 and 5 (4 + 1; compiled for sm_90: 210 registers, no spills, docs/estimators.md).
MAX_TILE, MAX_INPUTS = 16 * 512, 16


def too_large(hidden: int, batch: int, inputs: int | None = None) -> str | None:
    """Why a critic of ``hidden`` units, batch ``batch`` and ``inputs`` input rows is too large
    for the kernel (one line, with the fix); None when it fits."""
    if _pow2(hidden) * _pow2(2 * batch) > MAX_TILE:
        return (f"kernel 'triton' keeps the hidden layer in registers: hidden x 2 batch_size, each rounded up "
                f"to a power of two, must be <= {MAX_TILE:,}, got hidden {hidden} and batch_size {batch} "
                f"({_pow2(hidden)} x {_pow2(2 * batch)}); lower them or use kernel 'bmm'")
    if inputs is not None and inputs + 1 > MAX_INPUTS:
        return (f"kernel 'triton' takes critics of <= {MAX_INPUTS - 1} inputs, got {inputs} (joint over a wide "
                f"layer); use kernel 'bmm'")
    return None


def unavailable(device: torch.device) -> str | None:
    """Why the kernel cannot run on ``device`` (one line, with the fix); None when it can."""
    if not HAVE_TRITON:
        return ("kernel 'triton' needs the triton package: pip install 'nifgraph[gpu]' "
                "(or use kernel 'auto')")
    if device.type == "cuda" or (device.type == "cpu" and interpreting()):
        return None
    return ("kernel 'triton' runs on a CUDA GPU only, and this runs on the CPU: leave kernel at 'auto' "
            "(the compiled CPU loop), or, to test the kernel slowly, start Python with TRITON_INTERPRET=1 set "
            "(triton reads it when first imported)")


if HAVE_TRITON:

    @triton.jit
    def _row(w1, rr, d):
        """Row ``d`` of the ``(D_PAD, H)`` first-layer weights, as an ``(H,)`` vector."""
        return tl.sum(tl.where(rr[:, None] == d, w1, 0.0), axis=0)

    @triton.jit
    def _values(w1, w2, b2, x_ptr, y_ptr, ex_ptr, ey_ptr, xi, qi, valid, stride,
                D_X: tl.constexpr, D_Q: tl.constexpr, D_PAD: tl.constexpr):
        """Pre-activations ``(H, M)`` and critic values ``(M,)`` of the samples whose x rows
        are ``xi`` and q rows ``qi`` in the tables ``x_ptr``/``y_ptr`` (row stride ``stride``)."""
        rr = tl.arange(0, D_PAD)
        pre = _row(w1, rr, D_X + D_Q)[:, None] + tl.zeros([1, xi.shape[0]], tl.float32)
        for d in tl.static_range(D_X):
            row = tl.load(ex_ptr + d)
            v = tl.load(x_ptr + row * stride + xi, mask=valid, other=0.0)
            pre += _row(w1, rr, d)[:, None] * v[None, :]
        for j in tl.static_range(D_Q):
            row = tl.load(ey_ptr + j)
            v = tl.load(y_ptr + row * stride + qi, mask=valid, other=0.0)
            pre += _row(w1, rr, D_X + j)[:, None] * v[None, :]
        t = tl.sum(w2[:, None] * tl.maximum(pre, 0.0), axis=0) + b2
        return pre, t

    @triton.jit
    def _grads(w1, w2, b2, x_tr, y_tr, ex_ptr, ey_ptr, xr_ptr, qr_ptr, n_tr, batch, log_ma, first, rate,
               D_X: tl.constexpr, D_Q: tl.constexpr, D_PAD: tl.constexpr, M2: tl.constexpr, MINE: tl.constexpr):
        """Gradient of one training step (the rows ``xr_ptr``/``qr_ptr``, ``2B`` each: the joint
        half, then the marginal half) and the new moving average ``log_ma``."""
        offs = tl.arange(0, M2)
        valid = offs < 2 * batch
        joint = offs < batch
        xi = tl.load(xr_ptr + offs, mask=valid, other=0)
        qi = tl.load(qr_ptr + offs, mask=valid, other=0)
        pre, t = _values(w1, w2, b2, x_tr, y_tr, ex_ptr, ey_ptr, xi, qi, valid, n_tr, D_X, D_Q, D_PAD)
        inv_b = 1.0 / batch.to(tl.float32)
        if MINE:  # the moving average of E_Q[e^T] in the marginal term's denominator
            tm = tl.where(valid & (offs >= batch), t, -float("inf"))
            mx = tl.max(tm, axis=0)
            e = tl.exp(tm - mx)
            lme = mx + tl.log(tl.sum(e, axis=0)) - tl.log(batch.to(tl.float32))
            a = log_ma + tl.log(1.0 - rate)
            b = lme + tl.log(rate)
            hi = tl.maximum(a, b)
            log_ma = tl.where(first, lme, hi + tl.log(tl.exp(a - hi) + tl.exp(b - hi)))
            dt = tl.where(joint, -inv_b, e * tl.exp(mx - log_ma - tl.log(batch.to(tl.float32))))
        else:  # smile: the Jensen-Shannon bound
            dt = tl.where(joint, -inv_b / (1.0 + tl.exp(t)), inv_b / (1.0 + tl.exp(-t)))
        dt = tl.where(valid, dt, 0.0)
        g = tl.where(pre > 0.0, dt[None, :], 0.0)  # (H, M): the ReLU's mask times dL/dT
        gw2 = tl.sum(tl.maximum(pre, 0.0) * dt[None, :], axis=1)
        gb2 = tl.sum(dt, axis=0)
        rr = tl.arange(0, D_PAD)
        # the inputs are gathered again rather than kept from the forward pass: D rows of 2B
        # samples more in registers would cost occupancy; the second gather hits the cache
        gw1 = tl.where(rr[:, None] == D_X + D_Q, (w2 * tl.sum(g, axis=1))[None, :], 0.0)
        for d in tl.static_range(D_X):
            row = tl.load(ex_ptr + d)
            v = tl.load(x_tr + row * n_tr + xi, mask=valid, other=0.0)
            gw1 += tl.where(rr[:, None] == d, (w2 * tl.sum(g * v[None, :], axis=1))[None, :], 0.0)
        for j in tl.static_range(D_Q):
            row = tl.load(ey_ptr + j)
            v = tl.load(y_tr + row * n_tr + qi, mask=valid, other=0.0)
            gw1 += tl.where(rr[:, None] == D_X + j, (w2 * tl.sum(g * v[None, :], axis=1))[None, :], 0.0)
        return gw1, gw2, gb2, log_ma

    @triton.jit
    def _heldout(w1, w2, b2, x_ho, y_ho, ex_ptr, ey_ptr, sh_ptr, k_sh, n_ho, tau,
                 D_X: tl.constexpr, D_Q: tl.constexpr, D_PAD: tl.constexpr, BLOCK_N: tl.constexpr,
                 MINE: tl.constexpr):
        """Held-out bound ``mean_P T - log mean_Q e^T``, Q over the ``k_sh`` shuffles at
        ``sh_ptr`` (one row of ``n_ho`` sample indices each; every q row moves together);
        ``smile`` clips the marginal's values to ``[-tau, tau]``."""
        tj = 0.0
        for b0 in range(0, n_ho, BLOCK_N):
            offs = b0 + tl.arange(0, BLOCK_N)
            valid = offs < n_ho
            _, t = _values(w1, w2, b2, x_ho, y_ho, ex_ptr, ey_ptr, offs, offs, valid, n_ho, D_X, D_Q, D_PAD)
            tj += tl.sum(tl.where(valid, t, 0.0), axis=0)
        tj = tj / n_ho.to(tl.float32)
        mx = -float("inf")  # one running log-sum-exp over every shuffle and block
        acc = 0.0
        for s in range(k_sh):
            for b0 in range(0, n_ho, BLOCK_N):
                offs = b0 + tl.arange(0, BLOCK_N)
                valid = offs < n_ho
                qi = tl.load(sh_ptr + s * n_ho.to(tl.int64) + offs, mask=valid, other=0)
                _, t = _values(w1, w2, b2, x_ho, y_ho, ex_ptr, ey_ptr, offs, qi, valid, n_ho, D_X, D_Q, D_PAD)
                if not MINE:
                    t = tl.minimum(tl.maximum(t, -tau), tau)
                t = tl.where(valid, t, -float("inf"))
                hi = tl.maximum(mx, tl.max(t, axis=0))
                acc = acc * tl.exp(mx - hi) + tl.sum(tl.exp(t - hi), axis=0)
                mx = hi
        return tj - (mx + tl.log(acc) - tl.log(n_ho.to(tl.float32) * k_sh.to(tl.float32)))

    @triton.jit
    def _adam(p, m, v, g, a, inv_c2):
        m = m * 0.9 + g * (1.0 - 0.9)
        v = v * 0.999 + g * g * (1.0 - 0.999)
        p = p - a * m / (tl.sqrt(v * inv_c2) + 1e-8)
        return p, m, v

    #: ints that Triton would otherwise turn into constants when they equal 1 (and then `.to`
    #: fails at compile time: eval_shuffles=1, say); none of them is worth a compile of its own
    _INTS = ["n_tr", "n_ho", "batch", "k_sh", "k_fin", "n_param", "patience", "min_steps", "max_steps",
             "eval_every", "quiet_patience"]

    @triton.jit(do_not_specialize=_INTS)
    def _train_kernel(x_tr, y_tr, x_ho, y_ho, ex, ey, theta0, x_rows, q_rows, shuf, fshuf, out, steps_out,
                      n_tr, n_ho, batch, k_sh, k_fin, n_param, lr, rate, tau, patience, min_steps, max_steps,
                      eval_every, tol, ema, quiet_below, quiet_patience,
                      D_X: tl.constexpr, D_Q: tl.constexpr, HID: tl.constexpr, H: tl.constexpr,
                      D_PAD: tl.constexpr, M2: tl.constexpr, BLOCK_N: tl.constexpr, MINE: tl.constexpr,
                      EMA: tl.constexpr):
        e = tl.program_id(0).to(tl.int64)
        ex_ptr = ex + e * D_X
        ey_ptr = ey + e * D_Q
        hh = tl.arange(0, H)
        rr = tl.arange(0, D_PAD)
        n_w1 = (D_X + D_Q + 1) * HID
        base = theta0 + e * n_param
        w1 = tl.load(base + rr[:, None] * HID + hh[None, :], mask=(rr[:, None] <= D_X + D_Q) & (hh[None, :] < HID),
                     other=0.0)
        w2 = tl.load(base + n_w1 + hh, mask=hh < HID, other=0.0)
        b2 = tl.load(base + n_w1 + HID)
        m1 = tl.zeros([D_PAD, H], tl.float32)
        v1 = tl.zeros([D_PAD, H], tl.float32)
        m2 = tl.zeros([H], tl.float32)
        v2 = tl.zeros([H], tl.float32)
        mb = b2 * 0.0
        vb = b2 * 0.0
        a1, a2, ab = w1, w2, b2  # the weights' moving average (EMA)
        c1, c2, cb = w1, w2, b2  # the best weights
        log_ma = b2 * 0.0
        pw1 = b2 * 0.0 + 1.0  # 0.9^step, 0.999^step
        pw2 = b2 * 0.0 + 1.0
        best = b2 * 0.0 - float("inf")
        stale = 0
        step = 0
        go = max_steps > 0
        while go:
            for _ in range(eval_every):
                row0 = step * (2 * batch.to(tl.int64))  # this step's row of the tables
                g1, g2, gb, log_ma = _grads(w1, w2, b2, x_tr, y_tr, ex_ptr, ey_ptr, x_rows + row0, q_rows + row0,
                                            n_tr, batch, log_ma, step == 0, rate, D_X, D_Q, D_PAD, M2, MINE)
                step += 1
                pw1 = pw1 * 0.9
                pw2 = pw2 * 0.999
                a = lr / (1.0 - pw1)
                inv_c2 = 1.0 / (1.0 - pw2)
                w1, m1, v1 = _adam(w1, m1, v1, g1, a, inv_c2)
                w2, m2, v2 = _adam(w2, m2, v2, g2, a, inv_c2)
                b2, mb, vb = _adam(b2, mb, vb, gb, a, inv_c2)
                if EMA:
                    a1 = a1 * (1.0 - ema) + w1 * ema
                    a2 = a2 * (1.0 - ema) + w2 * ema
                    ab = ab * (1.0 - ema) + b2 * ema
            if EMA:
                u1, u2, ub = a1, a2, ab
            else:
                u1, u2, ub = w1, w2, b2
            est = _heldout(u1, u2, ub, x_ho, y_ho, ex_ptr, ey_ptr, shuf, k_sh, n_ho, tau, D_X, D_Q, D_PAD,
                           BLOCK_N, MINE)
            gain = est > best + tol
            stale = tl.where(gain, 0, stale + 1)
            c1 = tl.where(gain, u1, c1)
            c2 = tl.where(gain, u2, c2)
            cb = tl.where(gain, ub, cb)
            best = tl.maximum(best, est)
            need = tl.where(best < quiet_below, quiet_patience, patience)
            go = ((step < min_steps) | (stale < need)) & (step < max_steps)
        final = _heldout(c1, c2, cb, x_ho, y_ho, ex_ptr, ey_ptr, fshuf, k_fin, n_ho, tau, D_X, D_Q, D_PAD,
                         BLOCK_N, MINE)
        tl.store(out + e, final)
        tl.store(steps_out + e, step)


_POINTERS = {"x_tr": "*fp32", "y_tr": "*fp32", "x_ho": "*fp32", "y_ho": "*fp32", "ex": "*i64", "ey": "*i64",
             "theta0": "*fp32", "x_rows": "*i64", "q_rows": "*i64", "shuf": "*i64", "fshuf": "*i64", "out": "*fp32",
             "steps_out": "*i32"}
_FLOATS = {"lr", "rate", "tau", "tol", "ema", "quiet_below"}


def compile_for(arch: int = 90, *, dx: int = 2, dq: int = 2, hidden: int = 16, batch: int = 128, bound: str = "mine",
                ema: bool = True, num_warps: int | None = None) -> dict[str, object]:
    """Compile the kernel ahead of time for CUDA compute capability ``arch`` (90: H100/H200),
    no GPU needed (Triton's bundled ``ptxas``), and return its resource use per thread as
    ``cuobjdump`` reports it: ``{"REG": .., "LOCAL": .., "STACK": .., "SHARED": ..}`` (LOCAL and
    STACK > 0: registers spilled). Must run where the kernel is not interpreted."""
    import re
    import subprocess
    import tempfile

    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    names = _train_kernel.arg_names
    const = _constants(dx, dq, hidden, batch, None, bound, ema)
    sig = {n: _POINTERS.get(n) or ("constexpr" if n in const else "fp32" if n in _FLOATS else "i32") for n in names}
    src = ASTSource(fn=_train_kernel, signature=sig, constexprs={(names.index(k),): v for k, v in const.items()})
    kernel = triton.compile(src, target=GPUTarget("cuda", arch, 32), options={"num_warps": num_warps or NUM_WARPS})
    tool = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "kernel.cubin")
        with open(path, "wb") as f:
            f.write(kernel.asm["cubin"])
        report = subprocess.run([tool, "--dump-resource-usage", path], capture_output=True, text=True, check=True).stdout
    return {k: int(v) for k, v in re.findall(r"\b(REG|STACK|SHARED|LOCAL):(\d+)", report)}


def _pow2(n: int) -> int:
    return 1 << max(0, int(n) - 1).bit_length()


def _constants(dx: int, dq: int, hidden: int, batch: int, n_ho: int | None, bound: str, ema: float) -> dict:
    """The kernel's compile-time arguments (``n_ho`` None: the widest held-out block)."""
    return dict(D_X=dx, D_Q=dq, HID=int(hidden), H=_pow2(hidden), D_PAD=_pow2(dx + dq + 1), M2=_pow2(2 * batch),
                BLOCK_N=256 if n_ho is None else min(256, _pow2(n_ho)), MINE=bound == "mine", EMA=ema > 0.0)


def train_edges(x_tr, y_tr, x_ho, y_ho, ex, ey, theta0, x_rows, q_rows, shuffles, final_shuffles, *,
                batch, bound, hidden, lr, rate, tau, patience, min_steps, max_steps, eval_every, tol, ema=0.0,
                quiet_below=0.0, quiet_patience=1, num_warps=None):
    """Train the critics of the edges ``(ex[e], ey[e])``, one Triton program each; returns their
    held-out bounds ``(E,)`` (float64, on the CPU) and the steps each trained ``(E,)``.

    The arguments are those of :func:`._kernel.train_edges`, as torch tensors on the device the
    kernel runs on (a CUDA GPU; a CPU under ``TRITON_INTERPRET=1``).
    """
    if not HAVE_TRITON:  # pragma: no cover - guarded by unavailable()
        raise RuntimeError(unavailable(torch.device("cuda")))
    dev = theta0.device
    n_edges, n_param = theta0.shape
    ex2 = ex.reshape(n_edges, -1).to(dev, torch.int64).contiguous()
    ey2 = ey.reshape(n_edges, -1).to(dev, torch.int64).contiguous()
    dx, dq = ex2.shape[1], ey2.shape[1]
    big = too_large(hidden, batch, dx + dq)
    if big is not None:
        raise ValueError(big)
    if n_param != (dx + dq + 2) * hidden + 1:
        raise ValueError("train_edges: theta0 does not match the critic's inputs and hidden width")
    if not torch.equal(x_rows[:, :batch], x_rows[:, batch:]):  # the same rule as the CPU loop's
        raise ValueError("train_edges: the marginal half of each step's x rows must repeat the joint half")
    out = torch.zeros(n_edges, dtype=torch.float32, device=dev)
    steps = torch.zeros(n_edges, dtype=torch.int32, device=dev)
    if n_edges == 0:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    n_ho = int(x_ho.shape[1])
    f32 = torch.float32
    c = [t.to(dev, f32).contiguous() for t in (x_tr, y_tr, x_ho, y_ho, theta0)]
    r = [t.to(dev, torch.int64).contiguous() for t in (x_rows, q_rows, shuffles, final_shuffles)]
    with torch.cuda.device(dev) if dev.type == "cuda" else contextlib.nullcontext():  # cuda:N: launch there
        _train_kernel[(n_edges,)](
            *c[:4], ex2, ey2, c[4], *r, out, steps,
            int(x_tr.shape[1]), n_ho, int(batch), int(shuffles.shape[0]), int(final_shuffles.shape[0]), int(n_param),
            float(lr), float(rate), float(tau), int(patience), int(min_steps), int(max_steps), int(eval_every),
            float(tol), float(ema), float(quiet_below) if quiet_below > 0 else -math.inf, int(quiet_patience),
            **_constants(dx, dq, hidden, batch, n_ho, bound, ema), num_warps=num_warps or NUM_WARPS,
        )
    return out.double().cpu().numpy(), steps.long().cpu().numpy()

"""The compiled CPU loop of MINE / SMILE (nifgraph.mi._kernel, issue #14) against the batched
``bmm`` path it replaces on a CPU: its exp, its first gradient, its estimates on pairs of known
MI, and the joint (multivariate x) variant."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import nifgraph.mi as mi
from nifgraph.mi import _kernel, _mine

pytestmark = pytest.mark.skipif(not _kernel.HAVE_NUMBA, reason="numba is not importable")

FAST = {"steps": 400, "min_steps": 100, "eval_every": 25, "batch_size": 64, "final_shuffles": 8}


def test_the_vectorised_exp_matches_numpy():
    _kernel.ensure_cached()  # the loop is loaded before a helper is compiled on its own
    z = np.concatenate([-np.geomspace(1e-7, 87.0, 20_000), [0.0, -87.0, -100.0, -1e30]]).astype(np.float32)
    got = np.array([_kernel._exp_neg(v) for v in z[:2000]] + [_kernel._exp_neg(v) for v in z[-4:]])
    ref = np.exp(np.maximum(z[:2000].astype(np.float64), -87.0))
    assert np.max(np.abs(got[:2000] - ref) / ref) < 2e-6
    assert got[-4] == 1.0 and got[-1] == pytest.approx(math.exp(-87.0), rel=1e-5)  # clipped, never 0/NaN


@pytest.mark.parametrize("bound", ["mine", "smile"])
@pytest.mark.parametrize(("dx", "dq"), [(1, 1), (3, 1), (2, 2), (3, 2)])
def test_first_gradient_equals_the_bmm_backward_pass(bound, dx, dq):
    """dq = 2: a variable entering as two inputs (normal score and rank, the default)."""
    rng = np.random.default_rng(0)
    n, batch, h = 300, 32, 16
    xs = rng.standard_normal((dx + 1, n)).astype(np.float32)  # (cx, n_tr)
    ys = rng.standard_normal((dq + 1, n)).astype(np.float32)
    ex, ey = np.arange(1, dx + 1), np.arange(1, dq + 1)
    idx = rng.integers(0, n, batch)
    xr, qr = np.concatenate([idx, idx]), np.concatenate([idx, rng.permutation(idx)])
    critics = _mine._Critics(dx + dq, h)
    theta = critics.init(np.array([7]), seed=3, device=torch.device("cpu"))  # (1, P)
    got = _kernel.first_gradient(theta[0].numpy(), xs, ys, ex, ey, xr, qr, batch=batch, bound=bound, hidden=h)
    # the same step through the bmm path: inputs (1, dx+dq+1, 2B), dt from the fresh moving average
    inp = torch.ones(1, dx + dq + 1, 2 * batch)
    inp[0, :dx] = torch.as_tensor(xs[ex][:, xr])
    inp[0, dx : dx + dq] = torch.as_tensor(ys[ey][:, qr])
    t, hid = critics.forward(theta, inp)
    tj, tm = t[:, :batch], t[:, batch:]
    if bound == "mine":
        dt = torch.cat([torch.full_like(tj, -1.0 / batch), torch.softmax(tm, 1)], 1)  # log_ma = lme
    else:
        dt = torch.cat([-torch.sigmoid(-tj) / batch, torch.sigmoid(tm) / batch], 1)
    work = (torch.empty(1, dx + dq + 1, 2 * batch), torch.empty(1, dx + dq + 1, h), torch.empty(1, 1, h))
    ref = critics.backward(theta, inp, hid, dt, torch.empty(1, critics.n_param), work)[0].numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-6)


def _gaussians(n=2000, rhos=(0.0, 0.5, 0.9), seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, len(rhos)))
    y = np.column_stack([r * x[:, i] + math.sqrt(1 - r * r) * rng.standard_normal(n) for i, r in enumerate(rhos)])
    return x, y, np.array([-0.5 * math.log(1 - r * r) for r in rhos])


@pytest.mark.parametrize("method", ["mine", "smile"])
def test_the_compiled_loop_and_the_bmm_path_are_the_same_estimator(method):
    """Known MI on the diagonal, 0 off it: both paths within the estimator's noise of the truth
    and of each other (float rounding grows over hundreds of Adam steps: not bit-equal)."""
    x, y, truth = _gaussians()
    fast = mi.pairwise(x, y, method, seed=1, workers=1, kernel="numba", **FAST)
    ref = mi.pairwise(x, y, method, seed=1, workers=1, kernel="bmm", **FAST)
    np.testing.assert_allclose(np.diag(fast), truth, atol=0.06)
    assert np.abs(fast - ref).max() < 0.03
    off = ~np.eye(3, dtype=bool)
    assert fast[off].max() < 0.03
    steps = _mine.LAST_RUN["steps"]
    assert steps.min() >= FAST["min_steps"] and steps.max() <= FAST["steps"]


@pytest.mark.parametrize("opts", [{}, {"rank_input": False, "ema": 0.0, "lr": 0.01}])
def test_the_fused_gpu_step_is_the_same_estimator_on_a_cpu(opts):
    """``fused_step`` (the GPU path, run uncompiled here) on the default critic inputs (two per
    variable, weights averaged) and on the one-input critic: the same values as the bmm step
    to float rounding amplified by training."""
    from nifgraph.mi._registry import _table

    x, y, truth = _gaussians()
    o = mi.check_options("mine", {**FAST, **opts})
    (tx, per), (ty, _) = (_table(a, o) for a in (x, y))
    ii, jj = np.meshgrid(np.arange(3), np.arange(3), indexing="ij")
    ex = (ii.ravel()[:, None] * per + np.arange(per)).astype(np.int64)
    ey = (jj.ravel()[:, None] * per + np.arange(per)).astype(np.int64)
    kw = dict(keys=np.arange(9), bound="mine", opts={**o, "kernel": "bmm"}, seed=4)
    fused = _mine.train_bounds(tx.astype(np.float32), ty.astype(np.float32), ex, ey, fused=True, **kw)
    ref = _mine.train_bounds(tx.astype(np.float32), ty.astype(np.float32), ex, ey, fused=False, **kw)
    assert np.abs(fused - ref).max() < 0.03
    np.testing.assert_allclose(fused.reshape(3, 3).diagonal(), truth, atol=0.06)


def test_the_compiled_loop_trains_the_joint_critic():
    """``joint``: y depends on the sum of three x columns; the multivariate critic sees all."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2000, 3))
    s = x.sum(1) / math.sqrt(3)
    y = np.column_stack([0.8 * s + 0.6 * rng.standard_normal(2000), rng.standard_normal(2000)])
    fast = mi.joint(x, y, seed=0, workers=1, kernel="numba", **FAST)
    ref = mi.joint(x, y, seed=0, workers=1, kernel="bmm", **FAST)
    truth = -0.5 * math.log(1 - 0.8**2)
    assert fast[0] == pytest.approx(truth, abs=0.08) and fast[1] < 0.03
    assert np.abs(fast - ref).max() < 0.04


def test_auto_uses_the_compiled_loop_on_a_cpu_only():
    assert _mine.use_numba({"kernel": "auto"}, torch.device("cpu"))
    assert not _mine.use_numba({"kernel": "bmm"}, torch.device("cpu"))
    assert not _mine.use_numba({"kernel": "auto", "compile": True}, torch.device("cpu"))
    assert not _mine.use_numba({"kernel": "numba"}, torch.device("cuda"))


def test_a_misspelt_kernel_is_refused_in_one_line():
    from nifgraph.errors import ValidationError

    with pytest.raises(ValidationError, match="'kernel' parameter .* must be one of 'auto', 'numba', 'bmm'"):
        mi.pairwise(np.zeros((50, 1)), np.zeros((50, 1)), kernel="cuda")


def test_identical_calls_give_identical_values_whatever_ran_before():
    """Bit-equal across calls, whatever was allocated in between (a loop compiled in two
    versions chosen by buffer addresses once made identical calls differ: see _kernel._FAST)."""
    x, y, _ = _gaussians(n=1500, rhos=(0.3, 0.6, 0.8, 0.0, 0.5, 0.9, 0.2, 0.7))
    first = mi.pairwise(x, y, seed=3, workers=1, kernel="numba", **FAST)
    junk = [np.empty(int(n)) for n in np.random.default_rng(0).integers(1, 50_000, 200)]
    mi.pairwise(x[:, :2], y[:, :3], seed=3, workers=1, kernel="numba", **FAST)
    again = mi.pairwise(x, y, seed=3, workers=1, kernel="numba", **FAST)
    del junk
    np.testing.assert_array_equal(again, first)


def test_the_loop_is_compiled_for_one_portable_target():
    """On x86-64 with AVX2/FMA the loop is compiled for x86-64-v3 whatever the host (a seed then
    gives the same values on every such machine), also when numba was imported first;
    NIFGRAPH_NUMBA_TARGET=host keeps the host's target."""
    import platform
    import subprocess
    import sys

    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("the pin is for x86-64")
    code = ("import numba; import nifgraph.mi._kernel as k; "
            "print(k.TARGET, numba.config.CPU_NAME, repr(numba.config.CPU_FEATURES))")
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("NUMBA_CPU", "NIFGRAPH_NUMBA"))}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == [_kernel.PORTABLE_TARGET, _kernel.PORTABLE_TARGET, "''"]
    out = subprocess.run([sys.executable, "-c", code], env={**env, "NIFGRAPH_NUMBA_TARGET": "host"},
                         capture_output=True, text=True, check=True).stdout
    assert out.split()[:2] == ["None", "None"]


def test_a_fresh_machine_and_a_warm_cache_give_the_same_values(tmp_path):
    """Code numba compiles in a process and the same code loaded from its cache round
    differently; every process runs the cached code (compiled first in a child when missing),
    so a process that found no cache and one that did give identical values."""
    import os
    import subprocess
    import sys

    code = ("import numpy as np, nifgraph.mi as mi; rng = np.random.default_rng(0); "
            "x = rng.standard_normal((1500, 3)); y = x @ rng.standard_normal((3, 4)) + rng.standard_normal((1500, 4)); "
            "print(repr(float(mi.pairwise(x, y, 'mine', seed=0, workers=1, steps=200, min_steps=100).sum())))")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    fresh = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    cached = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert any((tmp_path / "cache").rglob("*.nbi"))
    assert fresh.strip() and fresh == cached

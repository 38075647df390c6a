"""The Triton training kernel of MINE / SMILE (nifgraph.mi._triton, issue #14's GPU goal),
run on this CPU through Triton's interpreter (``TRITON_INTERPRET=1``): the same estimator as
the compiled CPU loop, step for step (one step: equal to float rounding; 25 steps: to rounding
amplified by training), on pairs of known MI, independent of how edges are split into
launches, and refused in one line where it cannot run. The interpreter checks the
mathematics; the speed needs a GPU (scripts/bench_gpu.py)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import nifgraph.mi as mi
from nifgraph.errors import ValidationError
from nifgraph.mi import _kernel, _mine

triton = pytest.importorskip("triton", reason="triton is not installed (pip install 'nifgraph[gpu]'; CI installs it)")

FAST = {"steps": 300, "min_steps": 100, "eval_every": 25, "batch_size": 64, "final_shuffles": 8}


@pytest.fixture(scope="module")
def tri():
    """The kernel module: interpreted on a CPU (tests/conftest.py sets TRITON_INTERPRET before
    triton is imported), compiled on a GPU."""
    from nifgraph.mi import _triton

    if not (_triton.interpreting() or torch.cuda.is_available()):
        pytest.skip("triton was imported before TRITON_INTERPRET=1 was set and there is no GPU")
    return _triton


@pytest.fixture(scope="module")
def dev(tri):
    """Where the kernel runs: this CPU under the interpreter, else the GPU (compiled)."""
    return "cpu" if tri.interpreting() else "cuda"


def _problem(dx, dq, hidden, batch, n=320, edges=3, seed=0):
    """Tables of ``n`` samples, ``edges`` critics reading ``dx`` x rows and ``dq`` q rows (y
    depends on x), their initial weights and every random table, as train_bounds draws them."""
    rng = np.random.default_rng(seed)
    cx = dx + 2
    x = rng.standard_normal((n, cx)).astype(np.float32)
    y = (0.7 * x[:, : dq + 1] + 0.5 * rng.standard_normal((n, dq + 1))).astype(np.float32)
    opts = {**_mine.DEFAULTS, "batch_size": batch, "steps": 50, "eval_every": 25, "final_shuffles": 4}
    tables = _mine.critic_tables(x, y, seed=seed, opts=opts)
    gen = torch.Generator().manual_seed(seed)
    _, _, sh, fsh, xr, qr, b, _ = _mine._tables(gen, tables.n, opts)
    ex = np.stack([(np.arange(dx) + e) % cx for e in range(edges)])
    ey = np.stack([(np.arange(dq) + e) % (dq + 1) for e in range(edges)])
    theta0 = _mine._Critics(dx + dq, hidden).init(np.arange(edges) + 11, seed, torch.device("cpu"))
    return tables.arrays(), ex, ey, theta0, (xr, qr, sh, fsh), b


def _both(tri, dev, problem, *, bound, hidden, steps, ema, **over):
    arrays, ex, ey, theta0, rows, batch = problem
    kw = dict(batch=batch, bound=bound, hidden=hidden, lr=0.03, rate=0.01, tau=5.0, patience=6, min_steps=steps,
              max_steps=steps, eval_every=min(steps, 25), tol=0.001, ema=ema, quiet_below=0.0, quiet_patience=1)
    kw.update(over)
    ref, ref_steps = _kernel.train_edges(*arrays, ex, ey, theta0.numpy(), *(r.numpy() for r in rows), **kw)
    on = [torch.as_tensor(a).to(dev) for a in (*arrays, ex, ey, theta0, *rows)]
    got, got_steps = tri.train_edges(*on, **kw)
    np.testing.assert_array_equal(got_steps, ref_steps)
    return got, ref


@pytest.mark.parametrize("bound", ["mine", "smile"])
@pytest.mark.parametrize(
    ("dx", "dq", "hidden", "batch", "ema"),
    [(1, 1, 16, 64, 0.0), (2, 2, 16, 128, 0.03), (4, 2, 10, 50, 0.03)],  # one input; the default; joint, odd sizes
)
def test_one_step_equals_the_compiled_cpu_loop(tri, dev, bound, dx, dq, hidden, batch, ema):
    """One training step (forward, the bound's gradient, backward, Adam, the average) and the
    held-out bound over the final shuffles: the CPU loop's value to float32 rounding."""
    got, ref = _both(tri, dev, _problem(dx, dq, hidden, batch), bound=bound, hidden=hidden, steps=1, ema=ema)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("quiet_below", [0.0, 10.0])
def test_the_stopping_rule_stops_where_the_compiled_cpu_loop_does(tri, dev, quiet_below):
    """lr = 0: the critic never moves, so every held-out bound is exact and the steps taken
    follow from the rule alone (min_steps, patience, the quiet rule, the step cap): the same
    step counts as the CPU loop, and the initial critic's bound. quiet_below 10 nats makes every
    edge quiet (stops after one evaluation without gain past min_steps)."""
    got, ref = _both(tri, dev, _problem(2, 2, 16, 32, edges=4), bound="mine", hidden=16, steps=0, ema=0.03, lr=0.0,
                     min_steps=40, max_steps=200, eval_every=10, patience=3, quiet_below=quiet_below,
                     quiet_patience=1)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("bound", ["mine", "smile"])
def test_twenty_five_steps_stay_with_the_compiled_cpu_loop(tri, dev, bound):
    """25 steps through train_bounds: rounding differences (numba's polynomial exp, the order of
    sums) grow through the first, unsettled steps (Adam turns a tiny gradient into a full step),
    as much as they do between the two CPU paths (numba and bmm) -- never more than twice that."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((320, 4)).astype(np.float32)
    y = (0.7 * x[:, :3] + 0.5 * rng.standard_normal((320, 3))).astype(np.float32)
    ex = np.array([[0, 1], [1, 2], [2, 3]])
    ey = np.array([[0, 1], [1, 2], [2, 0]])
    opts = {**_mine.DEFAULTS, "batch_size": 64, "steps": 25, "min_steps": 25, "final_shuffles": 4, "tau": 5.0}
    got = {k: _mine.train_bounds(x, y, ex, ey, bound=bound, opts={**opts, "kernel": k}, seed=0, keys=np.arange(3) + 11,
                                 device=dev if k == "triton" else "cpu")
           for k in ("numba", "bmm", "triton")}
    ref_gap = np.abs(got["bmm"] - got["numba"]).max()
    gap = np.abs(got["triton"] - got["numba"]).max()
    assert gap <= 2 * ref_gap + 1e-3 and gap < 0.03, (gap, ref_gap)
    assert np.abs(got["triton"]).max() > 0.01  # trained: not all near zero


def _gaussians(n=800, rhos=(0.0, 0.6, 0.9), seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, len(rhos)))
    y = np.column_stack([r * x[:, i] + math.sqrt(1 - r * r) * rng.standard_normal(n) for i, r in enumerate(rhos)])
    return x, y, np.array([-0.5 * math.log(1 - r * r) for r in rhos])


def test_the_kernel_estimates_known_mi_like_the_cpu_loop(tri, dev):
    """Through mi.pairwise with the full schedule (early stopping, quiet edges, the best
    weights): the diagonal's known MI, and the CPU loop's values within the estimator's noise."""
    x, y, truth = _gaussians()
    diag = np.eye(3, dtype=bool)
    got = mi.pairwise(x, y, seed=2, workers=1, device=dev, kernel="triton", edges=diag, **FAST)
    steps = _mine.LAST_RUN["steps"]
    ref = mi.pairwise(x, y, seed=2, workers=1, device="cpu", kernel="numba", edges=diag, **FAST)
    np.testing.assert_allclose(np.diag(got), truth, atol=0.1)
    assert np.abs(np.diag(got) - np.diag(ref)).max() < 0.03
    assert steps.min() >= FAST["min_steps"] and steps.max() <= FAST["steps"]


def test_values_do_not_depend_on_the_launches(tri, dev, monkeypatch):
    """An edge's value is a function of the seed, its data and its key: launching 2 edges at a
    time gives the values of one launch of all of them, bit for bit (as pieces do on the CPU)."""
    x, y, _ = _gaussians(n=300, rhos=(0.5, 0.8))
    opts = {"steps": 25, "min_steps": 25, "eval_every": 25, "batch_size": 32, "final_shuffles": 2}
    whole = mi.pairwise(x, y, seed=5, workers=1, device=dev, kernel="triton", **opts)
    monkeypatch.setattr(_mine, "TRITON_BLOCK_INTERPRETED", 2)
    monkeypatch.setattr(_mine, "TRITON_BLOCK", 2)
    pieces = mi.pairwise(x, y, seed=5, workers=1, device=dev, kernel="triton", **opts)
    np.testing.assert_array_equal(pieces, whole)


def test_a_cpu_without_the_interpreter_is_refused_in_one_line(tri, monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(ValidationError, match="kernel 'triton' runs on a CUDA GPU only.*leave kernel at 'auto'.*start Python with TRITON_INTERPRET=1") as err:
        mi.pairwise(np.zeros((50, 1)), np.zeros((50, 1)), device="cpu", kernel="triton")
    assert "\n" not in str(err.value)


def test_a_ray_run_on_the_cpu_is_refused_before_ray_starts(tri, monkeypatch):
    ray = pytest.importorskip("ray", reason="the ray extra is not installed")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(ValidationError, match="kernel 'triton' runs on a CUDA GPU only"):
        mi.pairwise(np.zeros((50, 1)), np.zeros((50, 1)), device="cpu", ray="local", kernel="triton")
    assert not ray.is_initialized()


def test_the_run_command_refuses_it_before_training(tri, monkeypatch):
    pytest.importorskip("duckdb", reason="the store's packages are not installed (the GPU image)")
    from .conftest import invoke, one_line_error, stored_models

    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    res = invoke("run", "--device", "cpu", "--option", "kernel=triton")
    one_line_error(res, "kernel 'triton' runs on a CUDA GPU", "TRITON_INTERPRET")
    assert stored_models() == []


@pytest.mark.parametrize(("opts", "needle"), [
    ({"hidden": 32, "batch_size": 256}, "hidden x 2 batch_size"),
    ({"batch_size": 65_536}, "use kernel 'bmm'"),
])
def test_a_critic_too_large_for_the_registers_is_refused_in_one_line(tri, opts, needle):
    with pytest.raises(ValidationError, match=needle) as err:
        mi.check_options("mine", {"kernel": "triton", **opts})
    assert "\n" not in str(err.value)
    mi.check_options("mine", {"kernel": "triton", "batch_size": 256})  # 16 x 512: the largest tile


def test_a_joint_critic_over_a_wide_layer_is_refused_in_one_line(tri, dev):
    x = np.random.default_rng(0).standard_normal((100, 8))  # 8 variables x 2 inputs each + q's 2 > 15
    with pytest.raises(ValidationError, match="critics of <= 15 inputs, got 18"):
        mi.joint(x, x[:, :1], workers=1, device=dev, kernel="triton")


def test_no_triton_package_is_refused_with_the_install_line(tri, monkeypatch):
    monkeypatch.setattr(tri, "HAVE_TRITON", False)
    with pytest.raises(ValidationError, match=r"needs the triton package: pip install 'nifgraph\[gpu\]'"):
        mi.check_options("mine", {"kernel": "triton"})


def test_the_kernel_compiles_for_an_h100_without_spilling():
    """Ahead of time for compute capability 9.0 (H100/H200), no GPU needed: the default critic
    (two inputs per variable, mine, averaged weights) and the one-input smile critic with odd
    sizes compile; the default keeps everything in registers (no local memory, no stack). In
    a child process: this one runs the kernel interpreted, which cannot be compiled."""
    code = (
        "import json, warnings; warnings.filterwarnings('ignore')\n"
        "from nifgraph.mi import _triton as T\n"
        "print(json.dumps([T.compile_for(90), T.compile_for(90, bound='smile', dx=1, dq=1, hidden=10, batch=50),\n"
        "                  T.compile_for(90, batch=256)]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                         cwd=Path(__file__).resolve().parents[1])
    assert res.returncode == 0, res.stderr[-2000:]
    default, odd, largest = json.loads(res.stdout.strip().splitlines()[-1])
    assert 0 < default["REG"] <= 255 and default["LOCAL"] == 0 and default["STACK"] == 0, default
    assert odd["REG"] > 0 and largest["REG"] > 0  # the largest tile the kernel takes (16 x 512) compiles

"""Workers and devices (issue #14): the values do not depend on how the edges are sharded
(worker count, pool width, pieces), the device code path runs on the CPU, user mistakes get
one line naming the fix."""

from __future__ import annotations

import contextlib
import os

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import nifgraph.mi as mi
from nifgraph.cli import app
from nifgraph.errors import ValidationError
from nifgraph.mi import _mine, _parallel
from nifgraph.nif import estimate_nif
from nifgraph.settings import EstimationSettings

FAST = {"steps": 100, "min_steps": 50, "eval_every": 25, "batch_size": 32, "final_shuffles": 4}


def pair_data():
    """Six inputs, five outputs: three dependent (tanh of an input plus noise), two independent."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((200, 6))
    y = np.column_stack([np.tanh(x[:, :3] + 0.5 * rng.standard_normal((200, 3))), rng.standard_normal((200, 2))])
    return x, y


@pytest.fixture
def data():
    return pair_data()


@pytest.fixture
def parallel_always(monkeypatch):
    monkeypatch.setattr(_parallel, "MIN_PARALLEL_EDGES", 0)
    monkeypatch.setattr(_parallel, "PIECE_POOLS", 1)  # many small pieces


@pytest.mark.parametrize("kernel", ["numba", "bmm"])
@pytest.mark.parametrize("method", ["mine", "smile"])
def test_values_do_not_depend_on_workers_or_pool_width(method, kernel, data, parallel_always, monkeypatch):
    x, y = data
    kw = dict(FAST, kernel=kernel)
    one = mi.pairwise(x, y, method, seed=5, workers=1, device="cpu", **kw)
    if kernel == "numba":  # the compiled loop's blocks play the pool's part
        monkeypatch.setattr(_mine, "NUMBA_BLOCK", 3)
    two = mi.pairwise(x, y, method, seed=5, workers=2, device="cpu", chunk_size=4, **kw)
    narrow = mi.pairwise(x, y, method, seed=5, workers=1, device="cpu", chunk_size=7, **kw)
    np.testing.assert_allclose(two, one, atol=1e-6, rtol=0)
    np.testing.assert_allclose(narrow, one, atol=1e-6, rtol=0)
    assert one[0, 0] > 0.2 and one[:, 3:].max() < 0.15
    other_seed = mi.pairwise(x, y, method, seed=6, workers=1, device="cpu", **kw)
    assert not np.allclose(other_seed, one)


def test_an_edge_does_not_depend_on_its_neighbours(data):
    """The same edge estimated alone or among others: same value (randomness from its key)."""
    x, y = data
    full = mi.pairwise(x, y, seed=2, workers=1, device="cpu", **FAST)  # train_bounds' default: the CPU loop
    (tx, per), (ty, _) = _mine_inputs(x), _mine_inputs(y)
    rows = np.arange(per) + 1 * per  # variable 1's critic inputs
    alone = _mine.train_bounds(
        tx, ty, rows[None, :], rows[None, :], keys=np.array([1 * 5 + 1]),
        bound="mine", opts=mi.check_options("mine", FAST), seed=2,
    )
    assert full[1, 1] > 0.1
    assert alone[0] == pytest.approx(full[1, 1], abs=1e-6)


def _mine_inputs(a):
    """The critic-input table of ``a`` at the defaults and the inputs per variable."""
    from nifgraph.mi._registry import _table

    return _table(a, mi.check_options("mine", FAST))


def test_joint_and_nif_with_null_do_not_depend_on_workers(data, parallel_always):
    x, y = data
    j1 = mi.joint(x, y, seed=1, workers=1, chunk_size=2, **FAST)
    j2 = mi.joint(x, y, seed=1, workers=2, chunk_size=2, **FAST)
    np.testing.assert_allclose(j2, j1, atol=1e-6, rtol=0)
    acts = [x, y, y[:, :2] ** 2]
    kw = dict(null=True, null_draws=100, seed=3, device="cpu", **FAST)
    a = estimate_nif(acts, workers=1, **kw)
    b = estimate_nif(acts, workers=2, chunk_size=5, **kw)
    for va, vb in zip(a.values, b.values, strict=True):
        np.testing.assert_allclose(vb, va, atol=1e-6, rtol=0)
    np.testing.assert_allclose(b.extras["p_value"][0], a.extras["p_value"][0], atol=1e-9)
    assert a.device == "cpu" and "workers" not in a.options and "device" not in a.options


def test_progress_reaches_the_total_across_workers(data, parallel_always):
    x, y = data
    seen = []
    mi.pairwise(x, y, workers=2, chunk_size=3, progress=lambda d, t: seen.append((d, t)), **FAST)
    assert seen[-1] == (30, 30) and [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_pieces_cover_every_edge_once():
    for n, w, width in [(10, 2, 4), (1, 4, 256), (5000, 2, 256), (100_000, 3, 256)]:
        ps = _parallel.pieces(n, w, width)
        covered = np.concatenate([np.arange(s.start, s.stop) for s in ps])
        assert np.array_equal(covered, np.arange(n))
        assert len(ps) == min(n, len(ps)) and (len(ps) % w == 0 or len(ps) == n)


def test_edge_normals_are_a_function_of_seed_and_key():
    a = _mine.edge_normals(np.arange(2000), 65, seed=0)
    b = _mine.edge_normals(np.arange(1000, 2000), 65, seed=0)
    assert np.array_equal(a[1000:], b)
    assert abs(a.mean()) < 0.01 and abs(a.std() - 1) < 0.01
    assert not np.array_equal(a, _mine.edge_normals(np.arange(2000), 65, seed=1))


def test_device_path_on_cpu_is_the_auto_path(data):
    x, y = data
    if not torch.cuda.is_available():
        auto = mi.pairwise(x, y, seed=0, device="auto", workers=1, **FAST)
        assert np.array_equal(auto, mi.pairwise(x, y, seed=0, device="cpu", workers=1, **FAST))
    assert mi.resolve_device("cpu") == "cpu"
    assert mi.resolve_device("auto") in ("cpu", "cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu(data):  # pragma: no cover - run on the GPU machine
    x, y = data
    cpu = mi.pairwise(x, y, seed=0, device="cpu", workers=1, kernel="bmm", **FAST)  # the same step: only
    gpu = mi.pairwise(x, y, seed=0, device="cuda", kernel="bmm", **FAST)  # the rounding differs
    assert np.abs(gpu - cpu).max() < 0.02


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"workers": 0}, "workers.*≥ 1"),
        ({"workers": True}, "workers"),
        ({"workers": 1.5}, "workers"),
        ({"device": "gpu"}, "'device' parameter"),
        ({"device": "cuda:x"}, "'device' parameter"),
    ],
)
def test_bad_workers_or_device_are_refused(kw, match, data):
    x, y = data
    with pytest.raises(ValidationError, match=match):
        mi.pairwise(x, y, "gcmi", **kw)
    with pytest.raises(ValidationError, match=match):
        EstimationSettings.build(**kw)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is visible")
def test_cuda_without_a_gpu_names_the_fix(data, tmp_path):
    with pytest.raises(ValidationError, match="--device cpu"):
        mi.pairwise(*data, "mine", device="cuda")
    res = CliRunner().invoke(app, ["estimate", "latest", "--device", "cuda", "--store", str(tmp_path / "s.duckdb")])
    assert res.exit_code == 1 and "--device cpu" in res.output and "Traceback" not in res.output


def test_cli_refuses_zero_workers(tmp_path):
    res = CliRunner().invoke(app, ["run", "--workers", "0", "--store", str(tmp_path / "s.duckdb")])
    assert res.exit_code == 1
    assert "workers" in res.output and "≥ 1" in res.output and "Traceback" not in res.output


def test_ksg_gets_the_workers_as_kdtree_threads(data):
    x, y = data
    np.testing.assert_array_equal(mi.pairwise(x, y, "ksg", workers=1), mi.pairwise(x, y, "ksg", workers=2))


def test_fused_step_is_the_same_mathematics(data):
    """The element-wise step (compiled on a GPU with ``compile=True``) runs uncompiled on the CPU:
    SMILE's smooth loss follows the bmm path to float rounding, MINE's within its noise."""
    x, y = data
    for method, tol in (("smile", 1e-4), ("mine", 0.03)):
        plain = mi.pairwise(x, y, method, seed=4, workers=1, kernel="bmm", **FAST)
        fused = mi.pairwise(x, y, method, seed=4, workers=1, compile=True, **FAST)
        assert np.abs(fused - plain).max() < tol


def test_workers_map_the_parents_tables_instead_of_a_copy_per_piece(data, parallel_always, monkeypatch, tmp_path):
    """Every piece of a worker call carries handles to the four laid-out critic tables (training
    and held-out samples of each side; a few bytes), not the tables: the parent writes them once
    to unnamed files that the workers map. The values are those of one process and of the
    pickled tables; no file has a name meanwhile."""
    import pickle
    import tempfile

    x, y = data
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    real, seen = _parallel.shared_tables, []

    @contextlib.contextmanager
    def spy(pool, tables):
        with real(pool, tables) as out:
            seen.append(([type(t) for t in out], sorted(p.name for p in tmp_path.iterdir())))
            yield out

    monkeypatch.setattr(_parallel, "shared_tables", spy)
    one = mi.pairwise(x, y, "mine", seed=5, workers=1, device="cpu", **FAST)
    two = mi.pairwise(x, y, "mine", seed=5, workers=2, device="cpu", **FAST)
    assert seen == [([_parallel.SharedTable] * 4, [])]
    handle = _parallel.SharedTable(1, 3, (200, 12))
    assert len(pickle.dumps(handle)) < 200
    pool = _parallel._executor(2)
    monkeypatch.setattr(pool, "_nifgraph_maps", False, raising=False)  # workers that cannot map them
    pickled = mi.pairwise(x, y, "mine", seed=5, workers=2, device="cpu", **FAST)
    assert len(seen[-1][0]) == 4 and all(issubclass(t, np.ndarray) for t in seen[-1][0])
    np.testing.assert_array_equal(two, pickled)
    np.testing.assert_allclose(two, one, atol=1e-6, rtol=0)


def test_no_room_for_the_shared_tables_falls_back_to_sending_them(monkeypatch):
    import errno
    import tempfile

    def full():
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tempfile, "TemporaryFile", full)
    t = np.ones((4, 3), dtype=np.float32)
    with _parallel.shared_tables(_parallel._executor(2), [t, t]) as out:
        assert out[0] is t and out[1] is t


def test_an_empty_table_is_sent_as_it_is():
    t = np.zeros((0, 3), dtype=np.float32)
    with _parallel.shared_tables(_parallel._executor(2), [t]) as out:
        assert out[0] is t


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc (elsewhere the tables are sent)")
def test_no_worker_keeps_a_calls_table_files(data, parallel_always, monkeypatch, tmp_path):
    """Workers forked while a call's table files were open would inherit them and keep them
    allocated; the pool forks its workers when it is made, before any table exists."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    _parallel.shutdown()  # a fresh pool, made by this call
    x, y = data
    mi.pairwise(x, y, "mine", seed=5, workers=2, device="cpu", **FAST)
    pool = _parallel._executor(2)
    assert pool._nifgraph_maps is True and len(pool._processes) == 2
    for pid in pool._processes:
        links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        assert not [ln for ln in links if str(tmp_path) in ln], links


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc (elsewhere the tables are sent)")
def test_a_worker_opens_the_parents_table_bit_for_bit():
    t = np.random.default_rng(0).standard_normal((50, 7)).astype(np.float32)
    pool = _parallel._executor(2)
    with _parallel.shared_tables(pool, [t]) as (h,):
        assert isinstance(h, _parallel.SharedTable)
        back = pool.submit(_parallel._table, h).result()  # mapped in the worker, sent back
    np.testing.assert_array_equal(np.asarray(back), t)


def test_a_second_table_without_room_is_sent_with_the_first_one_written(monkeypatch):
    """No room for the second file: both tables are sent, the first from its file, the values
    unchanged."""
    import errno
    import tempfile

    real, made = tempfile.TemporaryFile, []

    def second_full():
        if made:
            raise OSError(errno.ENOSPC, "No space left on device")
        made.append(1)
        return real()

    monkeypatch.setattr(tempfile, "TemporaryFile", second_full)
    a = np.arange(12, dtype=np.float32).reshape(4, 3)
    b = -a
    with _parallel.shared_tables(_parallel._executor(2), iter([a, b])) as out:
        assert not any(isinstance(t, _parallel.SharedTable) for t in out)
        np.testing.assert_array_equal(out[0], a)
        assert out[1] is b


def test_the_tables_are_built_one_at_a_time(monkeypatch):
    """The parent holds one new table at most: each is written to its file and dropped before
    the next is made (checked with weak references where the tables are shared)."""
    import gc
    import weakref

    refs, alive_when_made = [], []

    def tables():
        for k in range(3):
            gc.collect()
            alive_when_made.append(sum(r() is not None for r in refs))
            t = np.full((5, 2), k, dtype=np.float32)
            refs.append(weakref.ref(t))
            yield t
            del t

    with _parallel.shared_tables(_parallel._executor(2), tables()) as out:
        assert len(out) == 3
        if os.path.isdir("/proc/self/fd"):
            assert all(isinstance(h, _parallel.SharedTable) for h in out)
            assert alive_when_made == [0, 0, 0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_laid_out_tables_are_the_transposed_split_of_the_inputs(dtype, monkeypatch):
    """:func:`_mine.critic_tables`: per variable, the training then the held-out samples of the
    seed's split, float32, C-contiguous, equal bit for bit to a whole-array transposed copy (a
    tiny gather block, so many blocks and a last partial one)."""
    monkeypatch.setattr(_mine, "GATHER_BYTES", 3 * 4 * 170)
    rng = np.random.default_rng(3)
    xs, ys = rng.standard_normal((213, 7)).astype(dtype), rng.standard_normal((213, 4)).astype(dtype)
    opts = mi.check_options("mine", FAST)
    t = _mine.critic_tables(xs, ys, seed=9, opts=opts)
    train, hold = _mine.split_rows(9, 213, opts)
    assert sorted(np.concatenate([train, hold]).tolist()) == list(range(213))
    assert hold.size == max(round(opts["holdout"] * 213), 10) and t.n == 213
    for got, side, rows in ((t.x_tr, xs, train), (t.y_tr, ys, train), (t.x_ho, xs, hold), (t.y_ho, ys, hold)):
        assert got.dtype == np.float32 and got.flags.c_contiguous
        np.testing.assert_array_equal(got, side.T.astype(np.float32)[:, rows])
    other = _mine.split_rows(10, 213, opts)[1]
    assert not np.array_equal(np.sort(other), np.sort(hold))


def test_laid_out_tables_are_trained_in_place_with_the_same_values(data, monkeypatch):
    """Given laid-out tables, a call reads them where they are (no copy: the compiled loop gets
    the very buffers) and gives the values of a call given the variables; tables laid out for
    another seed are refused."""
    x, y = data
    (tx, per), (ty, _) = _mine_inputs(x), _mine_inputs(y)
    opts = mi.check_options("mine", FAST)
    ex = np.stack([np.arange(per) + i * per for i in range(6)])
    ey = np.stack([np.arange(per) + j * per for j in range(5)])
    ex, ey = np.repeat(ex, 5, 0), np.tile(ey, (6, 1))
    kw = dict(keys=np.arange(30), bound="mine", opts=opts, seed=2)
    plain = _mine.train_bounds(tx.astype(np.float32), ty.astype(np.float32), ex, ey, **kw)
    laid = _mine.critic_tables(tx.astype(np.float32), ty.astype(np.float32), seed=2, opts=opts)
    real, seen = _mine._train_numba, []

    def spy(critics, x_tr, y_tr, x_ho, y_ho, *rest):
        seen.append([a.data_ptr() for a in (x_tr, y_tr, x_ho, y_ho)])
        return real(critics, x_tr, y_tr, x_ho, y_ho, *rest)

    monkeypatch.setattr(_mine, "_train_numba", spy)
    again = _mine.train_bounds(None, None, ex, ey, tables=laid, **kw)
    np.testing.assert_array_equal(again, plain)
    if _mine.use_numba(opts, torch.device("cpu")):
        assert seen == [[a.ctypes.data for a in laid.arrays()]]
    with pytest.raises(ValueError, match="another seed"):
        _mine.train_bounds(None, None, ex, ey, tables=laid, **dict(kw, seed=3))


def test_a_compile_failure_at_the_first_call_falls_back_to_the_plain_step(monkeypatch):
    """torch.compile compiles lazily: a missing backend or C compiler raises at the first call
    of the compiled function, inside training. The step then warns once and runs uncompiled,
    with the plain step's values."""
    calls = []

    def broken_compile(fn, **kw):
        def run(*args, **kwargs):
            calls.append(1)
            raise RuntimeError("Failed to find C compiler. Please specify via CC environment variable.")
        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    monkeypatch.setattr(_mine, "_COMPILED", {})
    g = torch.Generator().manual_seed(0)
    a, dx, dq, h, batch, n = 3, 2, 2, 4, 8, 40
    p = (dx + dq + 1) * h + h + 1
    theta = torch.randn(a, p, generator=g)
    args = (theta, torch.zeros(a, p), torch.zeros(a, p), torch.zeros(a), torch.zeros(a),
            torch.randn(n * dx * a, generator=g), torch.randn(n * dq * a, generator=g),
            (torch.arange(a * dx).reshape(a, dx, 1) * n), (torch.arange(a * dq).reshape(a, dq, 1) * n),
            torch.randint(0, n, (1, 2 * batch), generator=g), torch.randint(0, n, (1, 2 * batch), generator=g))
    kw = {"batch": batch, "lr": 0.01, "rate": 0.01, "bound": "mine"}
    step = _mine.compiled_step()
    with pytest.warns(RuntimeWarning, match="could not compile the fused step.*C compiler.*uncompiled"):
        got = step(*args, **kw)
    want = _mine.fused_step(*args, **kw)
    for g_, w_ in zip(got, want, strict=True):
        assert torch.equal(g_, w_)
    again = step(*args, **kw)  # the plain step from now on: no second compile attempt, no warning
    assert calls == [1] and torch.equal(again[0], want[0]) and _mine.compiled_step() is _mine.fused_step


def test_a_gpu_pool_is_capped_by_the_cards_free_memory():
    """The default GPU pool (8192 edges) fits a pair critic on any card, but a ``joint`` critic
    reads a whole layer: on a 2048-unit layer its pool is capped to half the free memory."""
    opts = mi.check_options("mine", {})
    h, batch = int(opts["hidden"]), int(opts["batch_size"])
    n_hold = 1000  # N = 4000
    pair = _mine.pool_bytes_per_edge(5, h, batch, n_hold, (5 + 1) * h + 1)
    assert 0.1e6 < pair < 0.4e6  # ~146 kB per edge measured (live tensors, N = 4000), with its 2x margin
    free = 139 * 2**30
    assert _mine.gpu_pool_cap(free, pair) > _mine.POOL_GPU  # pairs: never capped on an H200
    d_in = 2 * 2048 + 2 + 1  # joint: the layer's normal scores and ranks, q's two, the bias
    wide = _mine.pool_bytes_per_edge(d_in, h, batch, n_hold, (d_in + 1) * h + 1)
    cap = _mine.gpu_pool_cap(free, wide)
    assert 100 < cap < _mine.POOL_GPU and cap * wide <= _mine.GPU_MEMORY_SHARE * free
    assert _mine.gpu_pool_cap(1, wide) == 1  # always at least one edge

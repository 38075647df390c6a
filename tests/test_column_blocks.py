"""A large layer pair is estimated a block of columns at a time (issue #14, "Memory"): float32
inputs are not copied to float64 whole, the estimators' per-column transforms run block by
block, GCMI holds one side's scores and streams the other. Ground truth: the values with
one-column blocks equal those with one block for the whole layer (the transforms treat
columns independently), and numpy's traced peak allocation of a GCMI estimate stays within
one side's scores plus a few blocks, where the whole-layer way needed several float64 copies
of both layers."""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

import nifgraph.mi as mi
from nifgraph.errors import ValidationError
from nifgraph.mi import _gcmi, _kernel, _registry, _validate


def _layers(n=600, a=5, b=7, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, a)).astype(np.float32)
    x[:, 1] = 2.0  # a constant unit
    y = np.maximum(x @ rng.standard_normal((a, b)) + 0.5 * rng.standard_normal((n, b)), 0).astype(np.float32)
    y[:, 3] = 0.0  # a dead ReLU
    return x, y


NEURAL = dict(seed=3, workers=1, steps=80, min_steps=40)
CASES = {
    "gcmi": ("pairwise", "gcmi", {}),
    "gcmi joint": ("joint", "gcmi", {}),
    "ksg": ("pairwise", "ksg", dict(seed=2)),
    "ksg raw": ("pairwise", "ksg", dict(seed=2, copula=False)),
    "ksg joint": ("joint", "ksg", dict(seed=2)),
    "mine": ("pairwise", "mine", NEURAL),
    "mine joint": ("joint", "mine", NEURAL),
    "mine no ranks": ("pairwise", "mine", dict(NEURAL, rank_input=False)),
    "smile raw": ("pairwise", "smile", dict(NEURAL, copula=False)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_two_column_blocks_give_the_whole_layer_values(monkeypatch, case):
    kind, method, opts = CASES[case]
    x, y = _layers()
    if method in ("ksg", "mine", "smile"):
        x, y = x[:, :3], y[:, 2:5]  # keep the slow estimators small; still a constant column each
    whole = getattr(mi, kind)(x, y, method, **opts)
    monkeypatch.setattr(_validate, "BLOCK_BYTES", 1)  # the narrowest blocks: 2 columns
    assert _validate.block_width(len(x)) == 2
    blocked = getattr(mi, kind)(x, y, method, **opts)
    if method == "gcmi":  # a matrix product split by columns may round in the last bit
        np.testing.assert_allclose(blocked, whole, rtol=0, atol=1e-14)
    else:
        np.testing.assert_array_equal(blocked, whole)
    as64 = getattr(mi, kind)(x.astype(np.float64), y.astype(np.float64), method, **opts)
    np.testing.assert_array_equal(as64, blocked)  # float32 in, the float64 estimate out
    assert blocked.max() > 0.05


def test_no_block_is_a_lone_column():
    """numpy sums a one-column block pairwise and a wider one row by row: a lone last column
    would round its mean differently from the whole layer's (the case that failed first)."""
    assert _validate.column_spans(1, 10) == [(0, 1)]
    assert _validate.column_spans(7, 10, width=3) == [(0, 3), (3, 7)]
    assert _validate.column_spans(8, 10, width=3) == [(0, 3), (3, 6), (6, 8)]
    a = np.maximum(np.random.default_rng(0).standard_normal((500, 7)), 0) * 3.3
    for width in (2, 3, 6):
        got = np.concatenate([_validate.standardize(a[:, s:e].copy())
                              for s, e in _validate.column_spans(7, 500, width)], 1)
        np.testing.assert_array_equal(got, _validate.standardize(a))


def test_gcmi_holds_the_narrower_side_either_way_round():
    x, y = _layers(a=9, b=4)
    np.testing.assert_allclose(mi.pairwise(x, y, "gcmi"), mi.pairwise(y, x, "gcmi").T, rtol=0, atol=1e-14)


def test_float32_inputs_are_read_in_place_and_others_still_become_float64():
    x, y = _layers()
    xa, ya = _validate.check_pair(x, y, "t", 3)
    assert xa is x and ya is y
    xa, _ = _validate.check_pair(x.astype(np.float16), y, "t", 3)
    assert xa.dtype == np.float64
    bad = x.copy()
    bad[5, 2] = np.nan
    with pytest.raises(ValidationError, match="contains 1 NaN"):
        mi.pairwise(bad, y, "gcmi")


def _peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_large_gcmi_pair_needs_one_sides_scores_plus_a_few_blocks(monkeypatch):
    """numpy reports its allocations to tracemalloc; the peak of a blocked estimate is one side's
    float64 scores plus a handful of blocks, where the whole-layer transform (the reference
    computed here the old way) needs several float64 copies of the wider layer."""
    n, a, b = 20_000, 40, 200
    x, y = _layers(n=n, a=a, b=b)
    monkeypatch.setattr(_validate, "BLOCK_BYTES", 1 << 20)  # 1 MiB blocks: 6 columns
    held = 8 * n * a
    blocked = _peak(lambda: mi.pairwise(x, y, "gcmi"))
    assert blocked < held + 12 * (1 << 20), (blocked, held)

    def whole_layer_way():
        zx = _gcmi._block_scores(x.astype(np.float64))
        zy = _gcmi._block_scores(y.astype(np.float64))
        return zx.T @ zy

    old = _peak(whole_layer_way)
    assert old > held + 3 * 8 * n * b  # the float64 copy, ranks and scores of y at once
    assert blocked < old / 3


def test_the_critic_table_is_float32_and_built_without_a_float64_layer(monkeypatch):
    n, c = 20_000, 120
    x, _ = _layers(n=n, a=c, b=4)
    monkeypatch.setattr(_validate, "BLOCK_BYTES", 1 << 20)
    opts = dict(copula=True, rank_input=True)
    table = {}
    peak = _peak(lambda: table.setdefault("t", _registry._table(x, opts)))
    t, per = table["t"]
    assert per == 2 and t.dtype == np.float32 and t.shape == (n, 2 * c)
    assert peak < t.nbytes + 12 * (1 << 20), (peak, t.nbytes)
    monkeypatch.setattr(_validate, "BLOCK_BYTES", 1 << 40)  # one block: the same table
    np.testing.assert_array_equal(_registry._table(x, opts)[0], t)


def test_the_warming_child_imports_this_copy_of_nifgraph(tmp_path):
    """The child that fills numba's cache must import the package this process runs, whatever
    the caller's working directory and path, or this process compiles the loop itself and its
    values round differently from those of later processes."""
    env, cwd = _kernel._child_env()
    assert env[_kernel._WARMING] == "1"
    decoy = tmp_path / "nifgraph"  # a copy the caller's directory would otherwise put first
    decoy.mkdir()
    (decoy / "__init__.py").write_text("raise SystemExit('the decoy was imported')\n")
    code = "import nifgraph, os; print(os.path.dirname(os.path.abspath(nifgraph.__file__)))"
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == os.path.dirname(os.path.dirname(os.path.abspath(_kernel.__file__)))
    bare = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert "decoy" in bare.stderr + bare.stdout  # what the child saw before: the caller's copy


def test_the_nulls_tie_broken_scores_are_the_whole_layer_ones_in_blocks(monkeypatch):
    """The permutation null's scores, a block at a time (keys drawn column after column either
    way): bit for bit the one-block result, float32 in or float64 in, with less traced memory."""
    from nifgraph.significance import tie_broken_scores

    x, _ = _layers(n=20_000, a=60, b=4)
    x[:, 5] = np.round(x[:, 5])  # ties to break
    monkeypatch.setattr(_validate, "BLOCK_BYTES", 1 << 40)
    out = {}
    whole_peak = _peak(lambda: out.setdefault("whole", tie_broken_scores(x, 7)))
    monkeypatch.setattr(_validate, "BLOCK_BYTES", 1 << 20)
    blocked_peak = _peak(lambda: out.setdefault("blocked", tie_broken_scores(x, 7)))
    np.testing.assert_array_equal(out["blocked"], out["whole"])
    np.testing.assert_array_equal(tie_broken_scores(x.astype(np.float64), 7), out["whole"])
    assert (out["whole"][:, 1] == 0).all()  # the constant column
    assert np.unique(out["whole"][:, 5]).size == len(x)  # ties broken: a permutation of the quantiles
    layer = 8 * x.size
    assert blocked_peak < layer + 16 * (1 << 20) < whole_peak, (blocked_peak, whole_peak, layer)

"""nifgraph.mi: public API, bad input, constant columns, determinism, progress."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nifgraph.mi as mi
from nifgraph.errors import ValidationError

FAST = {"steps": 100, "min_steps": 50, "eval_every": 50, "batch_size": 64}


def _opts(method: str) -> dict:
    return dict(FAST) if method in ("mine", "smile") else {}


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 3))
    y = np.column_stack([x[:, 0] + 0.5 * rng.standard_normal(300), rng.standard_normal(300)])
    return x, y


def test_all_is_complete():
    assert set(mi.__all__) == {
        "METHODS", "DEVICES", "pairwise", "joint", "describe", "check_options", "check_kernel", "check_where",
        "resolve_device",
        "ray_device",
    }
    assert set(mi.METHODS) >= {"mine", "smile", "ksg", "gcmi"}


def test_check_options_validates_without_estimating():
    assert mi.check_options("mine", {"steps": 50})["steps"] == 50
    with pytest.raises(ValidationError, match="steps"):
        mi.check_options("mine", {"steps": 0})
    with pytest.raises(ValidationError, match="unknown option"):
        mi.check_options("ksg", {"steps": 10})


@pytest.mark.parametrize("method", ["mine", "smile", "ksg", "gcmi"])
def test_describe_returns_a_fresh_copy(method):
    d = mi.describe(method)
    assert d["method"] == method
    d["x"] = 1
    assert "x" not in mi.describe(method)


def test_describe_mine_has_documented_options():
    d = mi.describe("mine")
    for key in ("steps", "batch_size", "hidden", "lr", "chunk_size", "patience", "eval_every",
                "threads", "copula", "holdout"):
        assert key in d
    assert mi.describe("smile")["tau"] == 5.0


@pytest.mark.parametrize("method", ["mine", "smile", "ksg", "gcmi"])
def test_shapes_and_constant_columns(method, data):
    x, y = data
    x = x.copy()
    x[:, 2] = 0.0  # a dead ReLU
    y = np.column_stack([y, np.full(300, 3.0)])
    out = mi.pairwise(x, y, method, **_opts(method))
    assert out.shape == (3, 3) and out.dtype == np.float64
    assert np.all(out >= 0)
    assert np.all(out[2, :] == 0.0) and np.all(out[:, 2] == 0.0)
    assert out[0, 0] > 0.2  # the dependent pair
    j = mi.joint(x, y, method, **_opts(method))
    assert j.shape == (3,) and j[2] == 0.0 and j[0] > 0.2


@pytest.mark.parametrize("method", ["mine", "smile", "ksg", "gcmi"])
def test_deterministic_under_seed(method, data):
    x, y = data
    a = mi.pairwise(x, y, method, seed=3, **_opts(method))
    b = mi.pairwise(x, y, method, seed=3, **_opts(method))
    assert np.array_equal(a, b)
    ja = mi.joint(x, y, method, seed=3, **_opts(method))
    assert np.array_equal(ja, mi.joint(x, y, method, seed=3, **_opts(method)))


def test_seed_changes_mine(data):
    x, y = data
    a = mi.pairwise(x, y, "mine", seed=1, **FAST)
    b = mi.pairwise(x, y, "mine", seed=2, **FAST)
    assert not np.array_equal(a, b)


def test_torch_threads_restored(data):
    before = torch.get_num_threads()
    mi.pairwise(*data, "mine", threads=1, **FAST)
    assert torch.get_num_threads() == before


def test_accepts_torch_and_1d(data):
    x, y = data
    a = mi.pairwise(torch.tensor(x), torch.tensor(y), "gcmi")
    assert np.allclose(a, mi.pairwise(x, y, "gcmi"))
    one = mi.pairwise(x[:, 0], y[:, 0], "gcmi")
    assert one.shape == (1, 1) and np.isclose(one[0, 0], a[0, 0])


@pytest.mark.parametrize("method", ["mine", "ksg"])
def test_progress_reaches_total(method, data):
    x, y = data
    x = x.copy()
    x[:, 1] = 1.0
    calls = []
    mi.pairwise(x, y, method, progress=lambda d, t: calls.append((d, t)), **_opts(method))
    assert calls and calls[-1] == (6, 6)
    assert all(t == 6 for _, t in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_chunking_keeps_results_sane(data):
    x, y = data
    a = mi.pairwise(x, y, "mine", chunk_size=2, **FAST)
    assert a.shape == (3, 2) and a[0, 0] > 0.2 and a[1, 1] < 0.05


@pytest.mark.parametrize(
    ("x", "y", "method", "opts", "match"),
    [
        (np.zeros((50, 2)), np.zeros((40, 2)), "gcmi", {}, "50 samples but y has 40"),
        (np.array([[np.nan], [1.0], [2.0]] * 20), np.ones((60, 1)), "gcmi", {}, "NaN"),
        (np.array([[np.inf], [1.0], [2.0]] * 20), np.ones((60, 1)), "gcmi", {}, "NaN or infinite"),
        (np.ones((2, 1)), np.ones((2, 1)), "gcmi", {}, "at least 3 samples"),
        (np.ones((10, 1)), np.ones((10, 1)), "mine", {}, "at least 40 samples"),
        (np.ones((4, 1)), np.ones((4, 1)), "ksg", {"k": 3}, "at least 5 samples"),
        (np.ones((50, 2, 2)), np.ones((50, 1)), "gcmi", {}, "1-D"),
        (np.ones((50, 0)), np.ones((50, 1)), "gcmi", {}, "no columns"),
        (np.ones((50, 1)), np.ones((50, 1)), "nope", {}, "mine, smile, ksg, gcmi"),
        (np.ones((50, 1)), np.ones((50, 1)), "mine", {"stepz": 3}, "unknown option"),
        (np.ones((50, 1)), np.ones((50, 1)), "mine", {"steps": -3}, "positive int"),
        (np.ones((50, 1)), np.ones((50, 1)), "mine", {"lr": "fast"}, "number"),
        (np.ones((50, 1)), np.ones((50, 1)), "mine", {"holdout": 1.5}, "holdout"),
        (np.ones((50, 1)), np.ones((50, 1)), "mine", {"threads": 0}, "threads"),
        ([["a"]] * 50, np.ones((50, 1)), "gcmi", {}, "numeric"),
    ],
)
def test_bad_input_raises_validation_error(x, y, method, opts, match):
    with pytest.raises(ValidationError, match=match):
        mi.pairwise(x, y, method, **opts)


def test_bad_seed_and_progress():
    x = np.random.default_rng(0).standard_normal((50, 1))
    with pytest.raises(ValidationError, match="seed"):
        mi.pairwise(x, x, "gcmi", seed=-1)
    with pytest.raises(ValidationError, match="progress"):
        mi.joint(x, x, "gcmi", progress=3)
    with pytest.raises(ValidationError, match="unknown method"):
        mi.describe("nope")


def test_validation_error_is_one_line():
    with pytest.raises(ValidationError) as e:
        mi.pairwise(np.zeros((5, 1)), np.zeros((6, 1)), "gcmi")
    assert "\n" not in str(e.value)

"""Activations held for an estimate (issue #14, "Memory"): float32, and memory-mapped files
when large. Ground truth: the estimates on float32 activations equal, bit for bit, those on
their float64 upcasts (what was held before) for every estimator and option; mapped
activations hold the forward pass's values; the files are gone after the estimate, also after
an error; a stored run is the same with or without the maps."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from nifgraph.data import load_dataset
from nifgraph.errors import ValidationError
from nifgraph.network import TrainConfig, build_mlp, estimation_activations, from_module, train_mlp
from nifgraph.nif import estimate_nif

from .conftest import invoke, one_line_error, stored_models, train_iris


@pytest.fixture(scope="module")
def iris_net():
    ds = load_dataset("iris", seed=0)
    res = train_mlp(ds.x_train, ds.y_train, ds.x_test, ds.y_test, TrainConfig(hidden=(6, 5), epochs=20, seed=0))
    return res.network, ds


CASES = {
    "gcmi, null, bias, bootstrap": dict(estimator="gcmi", null=True, null_draws=100, bias_correct=True, bootstrap=3),
    "ksg, beta": dict(estimator="ksg", beta=0.5),
    "mine, null": dict(estimator="mine", null=True, null_draws=100, steps=60, workers=1),
    "mine, screen": dict(estimator="mine", screen="gcmi", steps=60, workers=1),
    "smile, layer": dict(estimator="smile", variant="layer", steps=60, workers=1),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_float32_activations_give_the_float64_estimates_bit_for_bit(iris_net, case):
    net, ds = iris_net
    acts32 = net.forward_layers(ds.split("all")[0], dtype=np.float32)
    assert all(a.dtype == np.float32 for a in acts32)
    acts64 = [a.astype(np.float64) for a in acts32]
    np.testing.assert_array_equal(acts64[-1], net.forward_layers(ds.split("all")[0])[-1])  # the old default
    a, b = (estimate_nif(acts, seed=4, **CASES[case]) for acts in (acts32, acts64))
    for name in ("values", "relevance", "redundancy"):
        for u, v in zip(getattr(a, name), getattr(b, name), strict=True):
            np.testing.assert_array_equal(u, v)
    assert sorted(a.extras) == sorted(b.extras)
    for key in a.extras:
        for u, v in zip(a.extras[key], b.extras[key], strict=True):
            np.testing.assert_array_equal(u, v)
    assert any(float(v.max()) > 0.05 for v in a.values)  # a real estimate, not all zeros


def test_small_activations_stay_in_memory_as_the_forward_pass_computes_them(iris_net):
    net, ds = iris_net
    x = ds.split("all")[0]
    with estimation_activations(net, x) as acts:  # 150 x 17 floats: far below 256 MiB
        assert not any(isinstance(a, np.memmap) for a in acts)
        for a, b in zip(acts, net.forward_layers(x, dtype=np.float32), strict=True):
            assert a.dtype == np.float32
            np.testing.assert_array_equal(a, b)


@pytest.fixture
def own_tmpdir(tmp_path, monkeypatch):
    """A private $TMPDIR, to see every file the maps make."""
    import tempfile

    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_large_activations_are_mapped_files_unlinked_before_use(iris_net, own_tmpdir):
    net, ds = iris_net
    x = ds.split("all")[0]
    want = net.forward_layers(x, dtype=np.float32)
    with estimation_activations(net, x, mmap_above_mib=0, batch_rows=7) as acts:  # 22 batches
        assert all(isinstance(a, np.memmap) and a.dtype == np.float32 and not a.flags.writeable for a in acts)
        assert Path(acts[0].filename).parent.name.startswith("nifgraph-acts-")
        assert list(own_tmpdir.iterdir()) == []  # unlinked already: a kill leaves nothing behind
        for a, b in zip(acts, want, strict=True):
            assert a.shape == b.shape
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)  # batched GEMMs may round apart
        nif = estimate_nif(acts, estimator="gcmi", seed=0)
    np.testing.assert_array_equal(acts[1][:5], np.asarray(acts[1][:5]))  # still readable after the block
    ref = estimate_nif([a.astype(np.float64) for a in acts], estimator="gcmi", seed=0)
    np.testing.assert_array_equal(nif.values[0], ref.values[0])
    with pytest.raises(RuntimeError, match="boom"):
        with estimation_activations(net, x, mmap_above_mib=0):
            raise RuntimeError("boom")
    assert list(own_tmpdir.iterdir()) == []


def test_a_full_disk_is_one_clear_error_and_leaves_nothing(iris_net, own_tmpdir, monkeypatch):
    import errno

    from nifgraph.errors import NifgraphError

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full, raising=False)
    net, ds = iris_net
    with pytest.raises(NifgraphError, match="No space left on device.*TMPDIR.*NIFGRAPH_MMAP_MIB"):
        with estimation_activations(net, ds.split("all")[0], mmap_above_mib=0):
            pytest.fail("no activations without room for them")
    assert list(own_tmpdir.iterdir()) == []
    with pytest.raises(ValidationError, match="batch_rows"):
        with estimation_activations(net, ds.split("all")[0], batch_rows=0):
            pass


def test_estimate_nif_keeps_float32_as_it_is():
    from nifgraph.nif import _check_acts

    a32 = np.ones((5, 2), dtype=np.float32)
    out = _check_acts([a32, a32.astype(np.float64), [[1, 2]] * 5])
    assert out[0] is a32 or np.shares_memory(out[0], a32)  # no float64 copy of every layer
    assert [o.dtype for o in out] == [np.float32, np.float64, np.float64]


def test_mapping_happens_above_the_limit_only():
    torch.manual_seed(0)
    net = from_module(build_mlp(10, (20,), 3))
    x = np.random.default_rng(0).standard_normal((4000, 10)).astype(np.float32)
    mib = 4 * 4000 * (10 + 20 + 3) / 2**20  # 0.50 MiB
    for limit, mapped in ((mib * 1.01, False), (mib * 0.99, True)):
        with estimation_activations(net, x, mmap_above_mib=limit, batch_rows=1000) as acts:
            assert all(isinstance(a, np.memmap) == mapped for a in acts)
            with torch.no_grad():
                np.testing.assert_allclose(acts[-1], net.module(torch.as_tensor(x)).numpy(), rtol=1e-5, atol=1e-6)


def test_a_run_with_mapped_activations_stores_the_same_edges(monkeypatch, own_tmpdir):
    import nifgraph.network as network

    real, seen = network.estimation_activations, []

    @contextlib.contextmanager
    def spy(*args, **kwargs):
        with real(*args, **{**kwargs, "batch_rows": 16}) as acts:  # 10 batches of Iris
            seen.append([(type(a), a.dtype) for a in acts])
            yield acts

    monkeypatch.setattr(network, "estimation_activations", spy)
    mid = train_iris()
    args = ("estimate", mid, "--estimator", "gcmi", "--null", "--null-draws", "100", "--json")
    assert invoke(*args).exit_code == 0
    monkeypatch.setenv("NIFGRAPH_MMAP_MIB", "0")
    res = invoke(*args)
    assert res.exit_code == 0, res.output
    assert seen == [[(np.ndarray, np.float32)] * 3, [(np.memmap, np.float32)] * 3]  # held in memory, then mapped
    assert list(own_tmpdir.iterdir()) == []
    from nifgraph.store import open_store

    with open_store(os.environ["NIFGRAPH_STORE"], read_only=True) as st:
        runs = st.list_runs(mid)
        assert len(runs) == 2
        a, b = (st.get_edges(r.run_id).drop(columns="run_id").reset_index(drop=True) for r in runs)
    assert len(a) == 35 and a.equals(b)  # the batched forward pass rounds as the whole one here
    assert [m.model_id for m in stored_models()] == [mid]


def test_a_bad_mmap_limit_is_one_line_before_any_work(monkeypatch):
    train_iris()
    for bad in ("lots", "-1", "inf"):
        monkeypatch.setenv("NIFGRAPH_MMAP_MIB", bad)
        one_line_error(invoke("estimate", "latest", "--estimator", "gcmi"), "NIFGRAPH_MMAP_MIB")
    one_line_error(invoke("run", "--epochs", "1", "--no-plot"), "NIFGRAPH_MMAP_MIB")  # refused before training
    assert len(stored_models()) == 1


def test_the_nulls_scores_are_mapped_above_the_limit_with_the_same_values(iris_net, own_tmpdir, monkeypatch):
    """A --null run's tie-broken float64 scores of every layer: in memory below
    NIFGRAPH_MMAP_MIB, file-backed scratch arrays above it (unlinked before the first score is
    written), and the same p-values, q-values and NIF values either way."""
    import nifgraph.significance as sig

    net, ds = iris_net
    acts = net.forward_layers(ds.split("all")[0], dtype=np.float32)
    real, seen = sig.tie_broken_scores, []

    def spy(a, seed, out=None):
        z = real(a, seed, out=out)
        seen.append((type(z), list(own_tmpdir.iterdir())))
        return z

    monkeypatch.setattr(sig, "tie_broken_scores", spy)
    kw = dict(estimator="gcmi", seed=0, null=True, null_draws=200, bootstrap=3)
    ref = estimate_nif(acts, **kw)
    monkeypatch.setenv("NIFGRAPH_MMAP_MIB", "0")
    got = estimate_nif(acts, **kw)
    assert [t for t, _ in seen] == [np.ndarray] * len(acts) + [np.memmap] * len(acts)
    assert all(files == [] for _, files in seen)  # nothing on disk by name, even while written
    assert got.significance == ref.significance
    assert set(got.extras) == set(ref.extras) and "p_value" in ref.extras
    for name in ("values", "relevance"):
        for a, b in zip(getattr(got, name), getattr(ref, name), strict=True):
            np.testing.assert_array_equal(a, b)
    for name, mats in ref.extras.items():
        for a, b in zip(got.extras[name], mats, strict=True):
            np.testing.assert_array_equal(a, b)


def test_no_room_for_the_nulls_scores_is_one_clear_error(iris_net, own_tmpdir, monkeypatch):
    import errno

    from nifgraph.errors import NifgraphError

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    net, ds = iris_net
    acts = net.forward_layers(ds.split("all")[0], dtype=np.float32)
    monkeypatch.setattr(os, "posix_fallocate", full, raising=False)
    monkeypatch.setenv("NIFGRAPH_MMAP_MIB", "0")
    with pytest.raises(NifgraphError, match=r"MiB of the null's normal scores .*No space left.*TMPDIR.*NIFGRAPH_MMAP_MIB"):
        estimate_nif(acts, estimator="gcmi", null=True, null_draws=100)
    assert list(own_tmpdir.iterdir()) == []
    estimate_nif(acts, estimator="gcmi")  # no null, no scores to hold: no files needed

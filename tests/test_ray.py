"""Ray (issue #14): edges trained as tasks on a local two-worker Ray cluster give the same values
as the local path for the same seed; without Ray installed ``--ray`` is one line naming the extra.

The cluster is started once for the module on the loopback interface (no dashboard) and shut
down at the end."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import nifgraph.mi as mi
from nifgraph.errors import ValidationError
from nifgraph.mi import _ray
from nifgraph.nif import estimate_nif
from nifgraph.settings import EstimationSettings

from .conftest import invoke
from .test_mi_parallel import FAST, pair_data

HAVE_RAY = importlib.util.find_spec("ray") is not None


@pytest.fixture
def data():
    return pair_data()
needs_ray = pytest.mark.skipif(not HAVE_RAY, reason="ray is not installed (pip install 'nifgraph[ray]')")


@pytest.fixture(scope="module")
def cluster():
    import ray

    with _ray.loopback_only():  # node address 127.0.0.1: every Ray server listens on loopback only
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        assert ray.nodes()[0]["NodeManagerAddress"] == "127.0.0.1"
        yield ray
    finally:
        ray.shutdown()



def test_the_token_auth_notice_of_a_local_instance_is_dropped(caplog):
    """`--ray local` starts the instance itself, token authentication on: Ray's notice saying
    so is dropped; its other notices (e.g. authentication disabled) still reach the user."""
    import logging

    log = logging.getLogger(_ray._AUTH_LOGGER)
    with caplog.at_level(logging.WARNING, logger=_ray._AUTH_LOGGER):
        with _ray.quiet_auth_notice():
            log.warning("Token authentication is enabled for this Ray cluster. Set RAY_AUTH_MODE=disabled to opt out.")
            log.warning("Token authentication is disabled for this Ray cluster. Anyone with network access ...")
        log.warning("Token authentication is enabled for this Ray cluster (outside: kept).")
    msgs = [r.getMessage() for r in caplog.records]
    assert msgs == ["Token authentication is disabled for this Ray cluster. Anyone with network access ...",
                    "Token authentication is enabled for this Ray cluster (outside: kept)."]


@needs_ray
@pytest.mark.parametrize("method", ["mine", "smile"])
def test_ray_gives_the_local_values(method, data, cluster):
    x, y = data
    local = mi.pairwise(x, y, method, seed=5, workers=1, device="cpu", **FAST)
    seen: list[tuple[int, int]] = []
    on_ray = mi.pairwise(
        x, y, method, seed=5, device="cpu", ray="auto", chunk_size=4, progress=lambda d, t: seen.append((d, t)), **FAST,
    )
    np.testing.assert_allclose(on_ray, local, atol=1e-6, rtol=0)
    assert local[0, 0] > 0.2
    assert seen == [(15, 30), (30, 30)]  # progress per finished chunk (two chunks: one per worker)
    assert int(cluster.cluster_resources()["CPU"]) == 2


@needs_ray
def test_chunks_come_back_in_order_and_joint_matches(data, cluster):
    x, y = data
    opts = mi.check_options("mine", {**FAST, "chunk_size": 2})
    zx, zy = np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.float32)
    ex, ey = np.repeat(np.arange(6), 5)[:, None], np.tile(np.arange(5), 6)
    keys = ex[:, 0] * 5 + ey
    starts = [s.start for s, _, _ in _ray.iter_chunks(zx, zy, ex, ey, keys, bound="mine", opts=opts, seed=3, ray="auto", device="auto")]
    assert starts == sorted(starts) and starts[0] == 0 and len(starts) >= 2
    np.testing.assert_allclose(
        mi.joint(x, y, seed=4, ray="auto", device="cpu", **FAST), mi.joint(x, y, seed=4, workers=1, device="cpu", **FAST),
        atol=1e-6, rtol=0,
    )


@needs_ray
def test_estimate_nif_with_the_null_on_ray(cluster):
    rng = np.random.default_rng(2)
    a0 = rng.standard_normal((150, 3))
    acts = [a0, np.tanh(a0 @ rng.standard_normal((3, 4))), rng.standard_normal((150, 2))]
    kw = dict(seed=1, null=True, null_draws=100, device="cpu", **FAST)
    local, on_ray = estimate_nif(acts, workers=1, **kw), estimate_nif(acts, ray="auto", **kw)
    for a, b in zip(local.values + local.extras["q_value"], on_ray.values + on_ray.extras["q_value"], strict=True):
        np.testing.assert_allclose(b, a, atol=1e-6, rtol=0)
    assert on_ray.device == "cpu"


def test_bad_ray_spelling_is_one_line():
    with pytest.raises(ValidationError, match="'ray' parameter"):
        EstimationSettings.build(ray="lokal")


def test_missing_ray_names_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    with pytest.raises(ValidationError, match=r"pip install 'nifgraph\[ray\]'"):
        mi.pairwise(np.zeros((50, 1)), np.zeros((50, 1)), ray="local")
    res = invoke("estimate", "latest", "--ray", "local")
    assert res.exit_code == 1
    assert "pip install 'nifgraph[ray]'" in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    help_text = " ".join(invoke("estimate", "--help").stdout.split())  # Rich must not eat "[ray]" as markup
    assert "pip install 'nifgraph[ray]'" in help_text.replace("│ ", "").replace(" │", ""), help_text


@needs_ray
def test_gpu_tasks_where_the_cluster_has_gpus(monkeypatch):
    import ray

    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 16.0, "GPU": 2.0})
    assert _ray.task_device("auto") == ("cuda", 2, 1.0)  # one GPU per task, a slot per GPU
    assert _ray.task_device("cuda") == ("cuda", 2, 1.0)
    assert _ray.task_device("cpu") == ("cpu", 16, 0.0)
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 4.0})
    assert _ray.task_device("auto") == ("cpu", 4, 0.0)
    with pytest.raises(ValidationError, match="no GPU; use --device auto or cpu"):
        _ray.task_device("cuda")

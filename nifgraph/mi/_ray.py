"""Neural estimators on a Ray cluster (the optional ``nifgraph[ray]`` extra).

The edges of one call are cut into contiguous chunks (as for local worker processes,
:func:`._parallel.pieces`) and each chunk is one Ray task: the task receives the chunk's edge
list and keys plus the call's data (put in the object store once per call) and trains the
chunk's critics with :func:`._mine.train_bounds`. An edge's randomness depends only on the seed,
the data and its key, so the values are the same as on the local path (to float rounding)
whatever the cluster's size. Tasks ask for one CPU each, or one GPU each where the cluster has
GPUs (``device="auto"`` or ``"cuda"``); finished chunks come back in edge order, with progress
as each one lands.

``ray`` names the cluster: ``"local"`` starts a Ray instance on this machine (loopback only,
no dashboard), ``"auto"`` joins the cluster this machine belongs to (``ray start``),
``"HOST:PORT"`` / ``"ray://HOST:PORT"`` a given head node. If Ray is already initialised in
this process (``ray.init`` called by the caller) that connection is used whatever the spelling.
The cluster's workers need nifgraph installed (the same version), as for any Ray task.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..errors import ValidationError, first_line, param_error

__all__ = ["INSTALL_HINT", "check_ray", "connect", "loopback_only", "task_device", "train", "iter_chunks"]

INSTALL_HINT = "pip install 'nifgraph[ray]'"
_LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
_ADDRESS = re.compile(r"^(ray://)?[A-Za-z0-9_.\-\[\]:]+:\d+$")


def check_ray(ray: Any, owner: str) -> str | None:
    """``None`` (no Ray), ``"auto"``, ``"local"`` or an address ``HOST:PORT`` / ``ray://HOST:PORT``;
    refused in one line when Ray is not installed (naming the extra to install)."""
    if ray is None:
        return None
    if not isinstance(ray, str) or not (ray in ("auto", "local") or _ADDRESS.match(ray)):
        raise param_error("ray", owner, "'auto', 'local' or a head address HOST:PORT (or ray://HOST:PORT)", ray)
    if importlib.util.find_spec("ray") is None:
        raise ValidationError(f"{owner}: --ray {ray} needs Ray, which is not installed; run {INSTALL_HINT}.")
    return ray


@contextmanager
def loopback_only():
    """Within: a Ray instance started by this process takes 127.0.0.1 as its node address, so
    every Ray server listens on the loopback interface only. Ray does this where it has no
    cluster support (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, read when ray is imported); the
    flag is also set on an already imported ray and restored afterwards."""
    old_env = os.environ.get(_LOOPBACK_ENV)
    os.environ[_LOOPBACK_ENV] = "0"
    try:
        from ray._private import ray_constants
    except ImportError:  # pragma: no cover - a ray without the flag: the environment decides
        ray_constants = None
    old_flag = getattr(ray_constants, "ENABLE_RAY_CLUSTER", None)
    if old_flag is not None:
        ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        if old_flag is not None:
            ray_constants.ENABLE_RAY_CLUSTER = old_flag
        if old_env is None:
            os.environ.pop(_LOOPBACK_ENV, None)
        else:
            os.environ[_LOOPBACK_ENV] = old_env


#: Ray's logger for its token-authentication notices, and the notice it logs when it starts a
#: local instance with token authentication on (its default): noise for ``--ray local``, where
#: this process starts that instance itself. Other notices (e.g. authentication *disabled*) pass.
_AUTH_LOGGER = "ray._private.authentication.authentication_token_setup"
_AUTH_NOTICE = "Token authentication is enabled for this Ray cluster"


class _DropAuthNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith(_AUTH_NOTICE)


@contextmanager
def quiet_auth_notice():
    """Within: Ray's "token authentication is enabled" notice is not logged (the instance keeps
    token authentication; only the line is dropped)."""
    log = logging.getLogger(_AUTH_LOGGER)
    flt = _DropAuthNotice()
    log.addFilter(flt)
    try:
        yield
    finally:
        log.removeFilter(flt)


def connect(ray: str) -> None:
    """Join (or start, for ``"local"``) the cluster ``ray`` unless this process already has one."""
    import ray as ray_mod

    if ray_mod.is_initialized():
        return
    try:
        if ray == "local":  # a machine-local instance on the loopback interface, no dashboard
            with loopback_only(), quiet_auth_notice():
                ray_mod.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
        else:
            ray_mod.init(address=ray, log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise ValidationError(
            f"Cannot join the Ray cluster {ray!r} ({first_line(e)}); start one with `ray start --head`, "
            "give its address (HOST:PORT), or use --ray local."
        ) from e


def task_device(device: str) -> tuple[str, int, float]:
    """The device each task uses (``"cpu"`` / ``"cuda"``), the number of task slots and the GPUs
    each task asks for, from the cluster's resources and the asked ``device``."""
    import ray as ray_mod

    res = ray_mod.cluster_resources()
    gpus, cpus = int(res.get("GPU", 0)), max(1, int(res.get("CPU", 1)))
    if device.startswith("cuda") and gpus < 1:
        raise ValidationError(
            f"device {device!r} asked for, but the Ray cluster has no GPU; use --device auto or cpu."
        )
    if device != "cpu" and gpus >= 1:
        return "cuda", gpus, 1.0
    return "cpu", cpus, 0.0


def _task(x_tr, y_tr, x_ho, y_ho, holdout, ex, ey, keys, bound, opts, seed, device):
    """One chunk of edges in a Ray worker: ``(bounds (E,), steps (E,))``. The four tables are
    the call's :class:`._mine.CriticTables` from the object store, read in place on a CPU."""
    from . import _mine
    from ._parallel import torch_threads

    threads = 1 if device == "cpu" else opts["threads"]
    laid = _mine.CriticTables(x_tr, y_tr, x_ho, y_ho, seed, holdout)
    with torch_threads(threads):
        est = _mine.train_bounds(
            None, None, ex, ey, keys=keys, bound=bound, opts=opts, seed=seed, device=device, tables=laid,
        )
    return est, _mine.LAST_RUN["steps"]


_REMOTE: dict[str, Any] = {}


def _remote():
    if "task" not in _REMOTE:
        import ray as ray_mod

        _REMOTE["task"] = ray_mod.remote(_task)
    return _REMOTE["task"]


def iter_chunks(
    zx: np.ndarray, zy: np.ndarray, ex: np.ndarray, ey: np.ndarray, keys: np.ndarray, *,
    bound: str, opts: dict, seed: int, ray: str, device: str,
    progress: Callable[[int, int], None] | None = None, done_offset: int = 0, total: int | None = None,
) -> Iterator[tuple[slice, np.ndarray, np.ndarray]]:
    """``(slice, bounds, steps)`` per chunk of the edges, in edge order, as the tasks finish
    (a chunk that finishes early waits for the ones before it); ``progress(done, total)`` is
    called as each chunk lands, whatever its place."""
    import ray as ray_mod
    import torch

    from . import _mine
    from ._parallel import pieces

    connect(ray)
    dev, slots, gpus = task_device(device)
    if opts.get("kernel") == "triton" and dev != "cuda":  # refused here, not in every task
        from ..errors import ValidationError

        raise ValidationError("ray: kernel 'triton' needs GPU tasks, and this cluster's workers have no GPU "
                              "(or device is 'cpu'); use kernel 'auto' there")
    n_edges = int(ey.shape[0])
    if n_edges == 0:
        return
    width = _mine.pool_width(opts, torch.device(dev))
    # the tables laid out once for every task (one seed, one split), put one at a time
    zx32, zy32 = np.asarray(zx, dtype=np.float32), np.asarray(zy, dtype=np.float32)
    split = _mine.split_rows(seed, zx32.shape[0], opts)
    tables = [ray_mod.put(_mine.gather_rows(z, rows)) for rows in split for z in (zx32, zy32)]
    task = _remote().options(num_cpus=1, num_gpus=gpus)
    chunks = pieces(n_edges, slots, width)
    holdout = float(opts["holdout"])
    refs = [task.remote(*tables, holdout, ex[s], ey[s], keys[s], bound, opts, seed, dev) for s in chunks]
    index = {ref: i for i, ref in enumerate(refs)}
    ready: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    pending, nxt, landed = list(refs), 0, 0
    total = n_edges if total is None else total
    try:
        while nxt < len(chunks):
            done, pending = ray_mod.wait(pending, num_returns=1)
            for ref in done:
                i = index[ref]
                ready[i] = ray_mod.get(ref)
                landed += chunks[i].stop - chunks[i].start
                if progress is not None:
                    progress(done_offset + landed, total)
            while nxt in ready:
                est, steps = ready.pop(nxt)
                yield chunks[nxt], est, steps
                nxt += 1
    finally:
        for ref in pending:  # an interrupted call: stop what is still queued
            ray_mod.cancel(ref)


def train(
    zx: np.ndarray, zy: np.ndarray, ex: np.ndarray, ey: np.ndarray, keys: np.ndarray, *,
    bound: str, opts: dict, seed: int, ray: str, device: str,
    progress: Callable[[int, int], None] | None, done_offset: int, total: int,
) -> np.ndarray:
    """Held-out bounds ``(E,)`` of the edges ``(ex[e], ey[e])`` trained as Ray tasks; the same
    values as :func:`._parallel.train` for the same seed."""
    from . import _mine

    out, all_steps = np.zeros(int(ey.shape[0])), np.zeros(int(ey.shape[0]))
    for s, est, steps in iter_chunks(
        zx, zy, ex, ey, keys, bound=bound, opts=opts, seed=seed, ray=ray, device=device,
        progress=progress, done_offset=done_offset, total=total,
    ):
        out[s], all_steps[s] = est, steps
    _mine.LAST_RUN["steps"] = all_steps
    return out

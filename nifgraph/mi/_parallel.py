"""Where the neural estimators run: the device, and worker processes for the CPU.

The edges of one call are cut into contiguous pieces and trained in worker processes (one
torch thread each), or all in this process on a GPU. Each edge's randomness depends only on
the seed and the edge's key (:mod:`._mine`), so the values do not depend on the number of
workers or on how the edges were cut: the same seed gives the same values for any ``workers``.

Workers are forked once per process (as torch's DataLoader does on Linux: no re-import of the
caller's ``__main__``, so a script needs no ``if __name__ == "__main__"`` guard; ``spawn`` where
there is no fork) and kept for later calls; a call with fewer than :data:`MIN_PARALLEL_EDGES`
edges runs in this process.
"""

from __future__ import annotations

import atexit
import math
import multiprocessing as mp
import os
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ValidationError, param_error

__all__ = ["DEVICES", "resolve_device", "check_device", "check_workers", "cpu_count", "train"]

DEVICES = ("auto", "cpu", "cuda")
#: Calls with fewer edges than this run in this process (starting workers costs ~1 s).
MIN_PARALLEL_EDGES = 1024
#: A piece holds at most this many pool widths of edges (progress is reported per piece).
PIECE_POOLS = 16
_EXECUTORS: dict[int, ProcessPoolExecutor] = {}


def cpu_count() -> int:
    """Cores this process may use (the affinity mask where the platform has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def check_device(device: Any, owner: str, local: bool = True) -> str:
    """Validate the spelling of ``device``: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``;
    a GPU that torch cannot see is refused with the fix (``local``: the GPU must be in this
    process; on a Ray cluster the cluster's GPUs are checked when it is joined)."""
    ok = isinstance(device, str) and (device in DEVICES or (device.startswith("cuda:") and device[5:].isdigit()))
    if not ok:
        raise param_error("device", owner, "'auto', 'cpu', 'cuda' or 'cuda:N'", device)
    if device.startswith("cuda") and local:
        import torch

        if not torch.cuda.is_available():
            raise ValidationError(
                f"{owner}: device {device!r} asked for, but torch {torch.__version__} sees no CUDA GPU; "
                "use --device cpu (or auto), or install a CUDA build of torch on a GPU machine."
            )
        index = int(device[5:]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise ValidationError(
                f"{owner}: device {device!r} asked for, but torch sees {torch.cuda.device_count()} GPU(s); "
                "use --device cuda (the first) or a smaller index."
            )
    return device


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` when torch sees a GPU, else ``"cpu"``; others as given."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def check_workers(workers: Any, owner: str) -> int:
    """``None`` -> every core; else a positive int."""
    if workers is None:
        return cpu_count()
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise param_error("workers", owner, "an int ≥ 1 (omit it, or None, for every core; 1 for this process only)", workers)
    return int(workers)


@contextmanager
def torch_threads(threads: int | None):
    import torch

    before = torch.get_num_threads()
    want = threads if threads is not None else min(before, cpu_count())
    torch.set_num_threads(want)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class SharedTable:
    """A float32 table that a worker maps read-only instead of receiving a copy. The parent
    wrote it to an unnamed temporary file (``tempfile.TemporaryFile``: ``O_TMPFILE``, or
    unlinked as soon as it is made, so a killed process leaves nothing behind) and holds it open as descriptor ``fd`` for the call; a
    worker opens the same file through ``/proc/<pid>/fd/<fd>``. Each piece of a call then
    carries a few bytes instead of the tables, and the workers share one copy of the pages."""

    pid: int
    fd: int
    shape: tuple[int, ...]

    def open(self) -> np.ndarray:
        # copy-on-write: writable for torch without a copy, and nothing reaches the parent's file
        return np.memmap(f"/proc/{self.pid}/fd/{self.fd}", dtype=np.float32, mode="c", shape=self.shape)


def _table(t: np.ndarray | SharedTable) -> np.ndarray:
    return t.open() if isinstance(t, SharedTable) else t


def _can_open(t: SharedTable) -> bool:
    """In a worker: whether the parent's table can be mapped here (asked once per pool)."""
    try:
        return _table(t).shape == t.shape
    except (OSError, ValueError):
        return False


@contextmanager
def shared_tables(pool: ProcessPoolExecutor, tables: Iterable[np.ndarray]):
    """The float32 ``tables`` as :class:`SharedTable` handles for ``pool``'s workers while the
    block runs, or the tables themselves (pickled into every piece, as before) where that cannot
    be done: no ``/proc``, an empty table, no room in the temporary directory, or workers that
    cannot open the parent's descriptors. The values are the same either way. ``tables`` is
    read lazily: each table, once written, is dropped for a read-only map of its file, so the
    caller may build them one at a time (the parent then holds one new table at most)."""
    import tempfile

    files: list[Any] = []
    arrays: list[np.ndarray] = []
    it = iter(tables)
    try:
        shared = os.path.isdir(f"/proc/{os.getpid()}/fd")
        try:
            for t in it:
                arrays.append(np.ascontiguousarray(t, dtype=np.float32))
                if not (shared and arrays[-1].size):
                    shared = False
                    continue
                files.append(tempfile.TemporaryFile())  # O_TMPFILE, or unlinked at once where not
                files[-1].write(memoryview(arrays[-1]).cast("B"))
                files[-1].flush()
                arrays[-1] = np.memmap(files[-1], dtype=np.float32, mode="r", shape=arrays[-1].shape)
                del t  # the table lives on in its file only, before the next one is made
        except (OSError, ValueError):  # e.g. no room in $TMPDIR: send the tables themselves
            shared = False
            arrays.extend(np.ascontiguousarray(t, dtype=np.float32) for t in it)
        out: list[Any] = arrays
        if shared and files:
            handles = [SharedTable(os.getpid(), f.fileno(), tuple(a.shape)) for f, a in zip(files, arrays, strict=True)]
            if getattr(pool, "_nifgraph_maps", None) is None:
                pool._nifgraph_maps = bool(pool.submit(_can_open, handles[0]).result())  # type: ignore[attr-defined]
            if pool._nifgraph_maps:  # type: ignore[attr-defined]
                out = handles
        yield out
    finally:  # every way out, an interrupted write included
        for f in files:
            f.close()


def _piece(tables, seed_holdout, ex, ey, keys, bound, opts, seed) -> tuple[np.ndarray, np.ndarray]:
    """One piece of edges in a worker process (CPU); ``tables``: the four arrays of the
    parent's :class:`._mine.CriticTables` for ``seed``, or :class:`SharedTable` handles to them
    (mapped for this piece only and read as they are)."""
    from . import _mine

    laid = _mine.CriticTables(*(_table(t) for t in tables), *seed_holdout)
    with torch_threads(opts["threads"] if opts["threads"] is not None else 1):
        est = _mine.train_bounds(None, None, ex, ey, keys=keys, bound=bound, opts=opts, seed=seed, device="cpu", tables=laid)
    return est, _mine.LAST_RUN["steps"]


def _executor(workers: int) -> ProcessPoolExecutor:
    ex = _EXECUTORS.get(workers)
    if ex is None:
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        ex = _EXECUTORS[workers] = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
        # fork every worker now, while this process holds no table file (a fork inherits open
        # descriptors: a worker forked during a call would keep that call's tables allocated)
        ex.submit(os.getpid).result()
    return ex


def _drop(workers: int, pool: ProcessPoolExecutor) -> None:
    if _EXECUTORS.get(workers) is pool:
        del _EXECUTORS[workers]
    pool.shutdown(wait=False, cancel_futures=True)


@atexit.register
def shutdown() -> None:
    """Stop the worker processes (at exit, or to free them early)."""
    while _EXECUTORS:
        _, ex = _EXECUTORS.popitem()
        ex.shutdown(wait=False, cancel_futures=True)


def pieces(n_edges: int, workers: int, width: int) -> list[slice]:
    """Contiguous slices of the edge list: a multiple of ``workers``, each at most
    :data:`PIECE_POOLS` pool widths (finer progress), none empty."""
    n = max(workers, math.ceil(n_edges / (PIECE_POOLS * width)))
    n = min(n_edges, math.ceil(n / workers) * workers)
    cuts = np.linspace(0, n_edges, n + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b > a]


def train(
    zx: np.ndarray,
    zy: np.ndarray,
    ex: np.ndarray,
    ey: np.ndarray,
    keys: np.ndarray,
    *,
    bound: str,
    opts: dict,
    seed: int,
    workers: int,
    device: str,
    progress: Callable[[int, int], None] | None,
    done_offset: int,
    total: int,
    ray: str | None = None,
) -> np.ndarray:
    """Held-out bounds ``(E,)`` of the edges ``(ex[e], ey[e])``: as tasks on the Ray cluster
    ``ray`` (:mod:`._ray`, any size of call), in this process on a GPU or for small calls, else
    in ``workers`` processes. Same values every way."""
    from . import _mine

    n_edges = int(ey.shape[0])
    zx32, zy32 = np.asarray(zx, dtype=np.float32), np.asarray(zy, dtype=np.float32)
    if ray is not None:
        from . import _ray

        return _ray.train(
            zx32, zy32, ex, ey, keys, bound=bound, opts=opts, seed=seed, ray=ray, device=device,
            progress=progress, done_offset=done_offset, total=total,
        )
    dev = resolve_device(device)
    if dev != "cpu" or workers <= 1 or n_edges < MIN_PARALLEL_EDGES:
        with torch_threads(opts["threads"]):
            return _mine.train_bounds(
                zx32, zy32, ex, ey, keys=keys, bound=bound, opts=opts, seed=seed, device=dev,
                progress=progress, done_offset=done_offset, total=total,
            )
    import torch

    if _mine.use_numba(opts, torch.device("cpu")):  # the cache is ready before the workers need it
        from ._kernel import ensure_cached

        ensure_cached()
    out, steps = np.zeros(n_edges), np.zeros(n_edges)
    pool = _executor(workers)
    width = _mine.pool_width(opts, torch.device("cpu"))
    done = 0
    try:
        # the tables laid out once for every piece (one seed, one split), written to files the
        # workers map one at a time: a few bytes per piece, and no worker copies them
        split = _mine.split_rows(seed, zx32.shape[0], opts)
        laid = (_mine.gather_rows(z, rows) for rows in split for z in (zx32, zy32))
        with shared_tables(pool, laid) as tables:
            try:
                futures = {
                    pool.submit(_piece, tables, (seed, float(opts["holdout"])), ex[s], ey[s], keys[s], bound, opts, seed): s
                    for s in pieces(n_edges, workers, width)
                }
                pending = set(futures)
                while pending:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for f in finished:
                        s = futures[f]
                        out[s], steps[s] = f.result()
                        done += s.stop - s.start
                        if progress is not None:
                            progress(done_offset + done, total)
            except BaseException:  # dropped before the tables close (queued pieces are discarded)
                _drop(workers, pool)
                raise
    except BaseException:  # a failed or interrupted call (the probe's too): start fresh next time
        _drop(workers, pool)
        raise
    _mine.LAST_RUN["steps"] = steps
    return out

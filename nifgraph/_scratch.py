"""Scratch arrays backed by files that are already gone: large working arrays whose pages the OS
can drop and read again, and that leave nothing behind however the process ends.

Each call makes a new directory under the temporary directory (``$TMPDIR``), one ``.npy`` file
per array, reserves the files' blocks (a full disk is a one-line error here, not a SIGBUS when
a page is first written), maps them writable and unlinks files and directory before returning:
a map outlives its file's name on POSIX, and the file's blocks are freed when the last map of
it goes. Their pages are the files' (unless ``$TMPDIR`` is a tmpfs, whose pages are memory).
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _reserve(path: Path) -> None:
    """Allocate a new file's blocks now, so that a full disk fails here with ``ENOSPC`` rather
    than as SIGBUS when a page of its map is first written. Where the file system or the OS
    cannot reserve (no ``posix_fallocate``, ``EOPNOTSUPP``), the file stays sparse."""
    if not hasattr(os, "posix_fallocate"):
        return
    with open(path, "r+b") as f:
        try:
            os.posix_fallocate(f.fileno(), 0, os.path.getsize(path))
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                raise


def scratch_arrays(shapes: Sequence[tuple[int, ...]], dtype: Any, *, prefix: str, what: str) -> list[np.memmap]:
    """One writable, file-backed array per shape, its file reserved and already unlinked.

    ``what`` names the arrays in the error raised when the files cannot be made (a
    :class:`~nifgraph.errors.NifgraphError` naming the fix: ``TMPDIR`` or ``NIFGRAPH_MMAP_MIB``).
    """
    from .errors import NifgraphError

    dtype = np.dtype(dtype)
    mib = sum(dtype.itemsize * int(np.prod(s)) for s in shapes) / 2**20
    tmp = tempfile.mkdtemp(prefix=prefix)
    try:
        maps = []
        for i, shape in enumerate(shapes):
            path = Path(tmp) / f"{i}.npy"
            maps.append(np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=tuple(shape)))
            _reserve(path)
    except OSError as exc:
        raise NifgraphError(
            f"Cannot hold {mib:,.0f} MiB of {what} as files in {tmp!s} ({exc.strerror or exc}): "
            "point TMPDIR at a disk with room, or raise NIFGRAPH_MMAP_MIB to keep them in memory."
        ) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # the maps stay; their files' names go now
    return maps

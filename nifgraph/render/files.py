"""Writing output files safely: a folder that cannot be made or written to, an existing file in
the way, or a full disk gives one clear error naming the path and the fix, and never leaves a
half-written or empty file behind (each file is written to a temporary name, then renamed)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ..errors import ValidationError

__all__ = ["output_folder", "write_file", "write_files"]


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def output_folder(folder: Path) -> Path:
    """``folder``, created if needed; a one-line error if it is a file or cannot be made."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValidationError(f"Output folder {folder} is a file; choose a folder with --out.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValidationError(f"Cannot create output folder {folder} ({_why(exc)}); choose another with --out.") from None
    if not os.access(folder, os.W_OK):
        raise ValidationError(f"Output folder {folder} is not writable; choose another with --out.")
    return folder


def write_file(path: Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` to produce ``path`` through a temporary file in the same folder, then
    rename it into place; on any failure the temporary file is removed and an ``OSError``
    (permission, full disk) becomes a one-line error."""
    return write_files([path], lambda tmps: write(tmps[0]))[0]


def write_files(paths: list[Path], write: Callable[[list[Path]], object]) -> list[Path]:
    """:func:`write_file` for files written together (one pass over data read once):
    ``write(tmps)`` produces all of them; they are renamed into place only when it succeeded,
    and on any failure every temporary file is removed."""
    paths = [Path(p) for p in paths]
    for path in paths:
        output_folder(path.parent)
        if path.is_dir():
            raise ValidationError(f"Cannot write {path}: a folder has that name; choose another --out.")
    tmps = [path.with_name(f".{path.name}.tmp") for path in paths]
    current = paths[0]
    try:
        write(tmps)
        for tmp, path in zip(tmps, paths, strict=True):
            current = path
            tmp.replace(path)
    except OSError as exc:
        named = {str(t): p for t, p in zip(tmps, paths, strict=True)}.get(str(exc.filename or ""))
        raise ValidationError(
            f"Cannot write {named or current} ({_why(exc)}); free some space or choose another --out."
        ) from None
    finally:
        for tmp in tmps:
            tmp.unlink(missing_ok=True)
    return paths

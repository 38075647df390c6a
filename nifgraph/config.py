"""Default locations, all overridable by environment variables or CLI options.

=====================  ===============================================  =====================
what                   default                                          override
=====================  ===============================================  =====================
store                  ``$XDG_DATA_HOME/nifgraph/nifgraph.duckdb``       ``NIFGRAPH_STORE``,
                       (``~/.local/share/nifgraph/nifgraph.duckdb``)     ``--store``
model checkpoints      inside the store (a table of the DuckDB file, a       --
                       ``:Checkpoint`` node in Neo4j): move or copy a store whole
store lock wait        120 s (a busy DuckDB file: another process writing)  ``NIFGRAPH_LOCK_TIMEOUT``
downloaded data sets   ``$XDG_CACHE_HOME/nifgraph/data``                 ``NIFGRAPH_DATA_HOME``,
                       (``~/.cache/nifgraph/data``)                      ``--data-home``
figures and exports    ``./nifgraph-out``                                ``--out``
activations held for   float32 in memory; above 256 MiB in all, memory-  ``NIFGRAPH_MMAP_MIB``
an estimate (and a     mapped ``.npy`` files in the temporary directory  (MiB; 0 = always
null's normal scores)  (``$TMPDIR``), unlinked before they are written   mapped), ``TMPDIR``
=====================  ===============================================  =====================
"""

from __future__ import annotations

import os
from pathlib import Path


def _xdg(var: str, fallback: str) -> Path:
    val = os.environ.get(var)
    return Path(val) if val else Path.home() / fallback


def default_store() -> str:
    env = os.environ.get("NIFGRAPH_STORE")
    if env:
        return env
    return str(_xdg("XDG_DATA_HOME", ".local/share") / "nifgraph" / "nifgraph.duckdb")


def data_home(override: str | os.PathLike[str] | None = None) -> Path:
    if override:
        return Path(override)
    env = os.environ.get("NIFGRAPH_DATA_HOME")
    if env:
        return Path(env)
    return _xdg("XDG_CACHE_HOME", ".cache") / "nifgraph" / "data"


#: URI schemes that name a Neo4j server; anything else is a DuckDB file path.
NEO4J_SCHEMES = ("neo4j://", "neo4j+s://", "neo4j+ssc://", "bolt://", "bolt+s://", "bolt+ssc://")


def is_neo4j_uri(uri: str) -> bool:
    """Whether ``uri`` names a Neo4j server (else it is a DuckDB file path)."""
    return uri.lower().startswith(NEO4J_SCHEMES)


def default_out() -> Path:
    return Path(os.environ.get("NIFGRAPH_OUT", "nifgraph-out"))


#: Activations held for an estimate above this many MiB (all layers, float32) go to
#: memory-mapped files (:func:`nifgraph.network.estimation_activations`).
DEFAULT_MMAP_MIB = 256.0


def mmap_above_mib() -> float:
    """``NIFGRAPH_MMAP_MIB`` (MiB, >= 0) or :data:`DEFAULT_MMAP_MIB`."""
    from .errors import ValidationError

    val = os.environ.get("NIFGRAPH_MMAP_MIB")
    if val is None or not val.strip():
        return DEFAULT_MMAP_MIB
    try:
        mib = float(val)
    except ValueError:
        mib = -1.0
    if not (mib >= 0 and mib != float("inf")):
        raise ValidationError(f"NIFGRAPH_MMAP_MIB must be a number of MiB >= 0 (0 = always memory-map); got {val!r}.")
    return mib

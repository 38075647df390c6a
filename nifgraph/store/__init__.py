"""Stores: where models, runs and analyses live. ``open_store(uri)`` picks the implementation:
a ``neo4j://``, ``neo4j+s://``, ``bolt://`` or ``bolt+s://`` URI opens Neo4j; anything else is a
DuckDB file path (the embedded default, see :func:`nifgraph.config.default_store`)."""

from __future__ import annotations

import re
from pathlib import Path

from ..config import default_store, is_neo4j_uri
from ..errors import ValidationError
from .base import Store

__all__ = ["Store", "open_store", "is_neo4j_uri"]

#: ``scheme://…``: a URL, never meant as a file name (a Windows drive ``C:\`` has no ``//``).
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
#: ``host:port`` with no scheme (``localhost:7687``, ``127.0.0.1:7687``): a server, not a file name.
_HOST_PORT = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\]):\d{1,5}$")


def open_store(uri: str | None = None, *, read_only: bool = False) -> Store:
    """Open the store at ``uri`` (default: ``$NIFGRAPH_STORE`` or the embedded file)."""
    uri = uri or default_store()
    if _URL.match(uri) and not is_neo4j_uri(uri):
        raise ValidationError(
            f"--store {uri!r} is neither a Neo4j URI nor a file path; use neo4j://host:7687 or bolt://host:7687 "
            "(+s/+ssc for TLS), or the path of a DuckDB file."
        )
    if _HOST_PORT.match(uri) and not Path(uri).exists():
        raise ValidationError(
            f"--store {uri!r} is a server address without a scheme; pass neo4j://{uri} (or bolt://{uri}), "
            "or the path of a DuckDB file (e.g. ./nif.duckdb)."
        )
    if is_neo4j_uri(uri):
        from .neo4j import Neo4jStore

        return Neo4jStore.from_env(uri)
    from .duckdb import DuckDBStore

    return DuckDBStore(uri, read_only=read_only)

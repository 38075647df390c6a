"""Stores: where models, runs and analyses live. ``open_store(uri)`` picks the implementation:
a ``neo4j://``, ``neo4j+s://``, ``bolt://`` or ``bolt+s://`` URI opens Neo4j; anything else is a
DuckDB file path (the embedded default, see :func:`nifgraph.config.default_store`)."""

from __future__ import annotations

from ..config import default_store, is_neo4j_uri
from .base import Store

__all__ = ["Store", "open_store", "is_neo4j_uri"]


def open_store(uri: str | None = None, *, read_only: bool = False) -> Store:
    """Open the store at ``uri`` (default: ``$NIFGRAPH_STORE`` or the embedded file)."""
    uri = uri or default_store()
    if is_neo4j_uri(uri):
        from .neo4j import Neo4jStore

        return Neo4jStore.from_env(uri)
    from .duckdb import DuckDBStore

    return DuckDBStore(uri, read_only=read_only)

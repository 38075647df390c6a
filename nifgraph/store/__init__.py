"""Stores: where models, runs and analyses live. ``open_store(uri)`` picks the implementation:
a ``neo4j://``, ``neo4j+s://``, ``bolt://`` or ``bolt+s://`` URI opens Neo4j; anything else is a
DuckDB file path (the embedded default, see :func:`nifgraph.config.default_store`)."""

from __future__ import annotations

from .base import Store

__all__ = ["Store", "open_store", "is_neo4j_uri"]

_NEO4J_SCHEMES = ("neo4j://", "neo4j+s://", "neo4j+ssc://", "bolt://", "bolt+s://", "bolt+ssc://")


def is_neo4j_uri(uri: str) -> bool:
    return uri.lower().startswith(_NEO4J_SCHEMES)


def open_store(uri: str | None = None, *, read_only: bool = False) -> Store:
    """Open the store at ``uri`` (default: ``$NIFGRAPH_STORE`` or the embedded file)."""
    from ..config import default_store

    uri = uri or default_store()
    if is_neo4j_uri(uri):
        from .neo4j import Neo4jStore

        return Neo4jStore.from_env(uri)
    from .duckdb import DuckDBStore

    return DuckDBStore(uri, read_only=read_only)

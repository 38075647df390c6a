"""Options and rendering helpers shared by the command modules."""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

import typer
from rich.console import Console

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        envvar="NIFGRAPH_STORE",
        help="Store: a DuckDB file path (default: ~/.local/share/nifgraph/nifgraph.duckdb) "
        "or a Neo4j URI (neo4j://host:7687; credentials from NEO4J_USER / NEO4J_PASSWORD).",
        show_envvar=True,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")]


def _clean(obj: Any) -> Any:
    if isinstance(obj, float):
        return None if math.isnan(obj) or math.isinf(obj) else obj
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if hasattr(obj, "tolist"):
        return _clean(obj.tolist())
    if hasattr(obj, "item"):
        return _clean(obj.item())
    return obj


def print_json(obj: Any) -> None:
    """Print ``obj`` as JSON on stdout (NaN -> null), nothing else."""
    typer.echo(json.dumps(_clean(obj), indent=2))


def open_store_cli(uri: str | None, *, read_only: bool = False):
    from ..store import open_store

    return open_store(uri, read_only=read_only)

"""Database commands: ``db status|init|repair|estimate``, ``query``, ``cypher``, ``push``, ``pull``.

Thin: each command opens a store, calls the library, renders. ``push`` / ``pull`` copy
models, runs and analyses between any two stores (:mod:`nifgraph.store.copy`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from ..errors import ValidationError
from ..render.comparisons import frame_table
from ..store.copy import copy_models
from .options import JsonOpt, StoreOpt, console, open_store_cli, print_json

if TYPE_CHECKING:  # pragma: no cover
    from ..store.base import Store

__all__ = ["status", "init", "repair", "gds_estimate", "query", "run_cypher", "push", "pull", "register"]

ParamOpt = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", help="Query parameter NAME=VALUE (repeatable); typed by the query header."),
]


def _need_neo4j(st: Store) -> None:
    if st.kind != "neo4j":
        raise ValidationError(
            f"This command needs a Neo4j store, not {st.uri}; pass --store neo4j://localhost:7687 "
            "or set NIFGRAPH_STORE (see docs/neo4j.md)."
        )


def _params(query: Any, items: list[str] | None) -> dict[str, Any]:
    from ..cypher import convert_param

    params: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ValidationError(f"--param must look like NAME=VALUE; got {item!r}.")
        key = key.strip()
        if key in params:
            raise ValidationError(f"--param {key} is given twice; pass each parameter once.")
        params[key] = raw if query is None else convert_param(query, key, raw)
    return params


def _adhoc_params(items: list[str] | None) -> dict[str, Any]:
    import json

    from ..cypher import beyond_int64

    params = _params(None, items)
    for k, v in params.items():
        try:
            params[k] = json.loads(v)
        except ValueError:
            pass  # a plain string
        if beyond_int64(params[k]):
            raise ValidationError(
                f"Parameter {k!r} holds an integer beyond 64 bits, more than Cypher's integers hold; "
                f"quote it to pass it as a string (-p '{k}=\"{v}\"')."
            )
    return params


def _frame_json(frame: Any) -> list[dict[str, Any]]:
    return frame.to_dict(orient="records")


def status(store: StoreOpt = None, json_: JsonOpt = False) -> None:
    """Server version and edition, GDS version, schema state, counts."""
    with open_store_cli(store) as st:
        _need_neo4j(st)
        info = st.status()
    if json_:
        print_json(info)
        return
    schema = info["schema"]
    console.print(Text.assemble((str(info["uri"]), "bold"), f"  database {info['database']}"))
    console.print(f"Neo4j {info['server_version']} ({info['edition']})")
    console.print(
        f"Graph Data Science {info['gds_version']}" if info["gds_version"]
        else "Graph Data Science: not installed (analysis falls back to the local engine)"
    )
    if info.get("gds_problem"):
        console.print(str(info["gds_problem"]), style="yellow")
    version = f"data schema {schema['version']}" if schema.get("version") else "no nifgraph data yet"
    if schema["ready"]:
        console.print(f"Schema: ready ({len(schema['expected'])} constraints and indexes; {version})")
    else:
        console.print(
            f"Schema: not ready (missing {', '.join(schema['missing']) or 'none'}; "
            f"not online {', '.join(schema['not_online']) or 'none'}): run `nifgraph db init`"
        )
    hidden, deleting = info.get("pending_models", 0), info.get("deleting_models", 0)
    console.print(f"{_count(info['models'], 'model')}, {_count(info['runs'], 'run')}, "
                  f"{_count(info['incomplete_runs'], 'incomplete run')}"
                  + (f", {_count(hidden, 'model')} waiting for an unfinished first run" if hidden else "")
                  + (f", {_count(deleting, 'model')} whose deletion was interrupted (`nifgraph delete ID` or "
                     "`nifgraph db repair` finishes it)" if deleting else "")
                  + (" (clean them with `nifgraph db repair`)" if info["incomplete_runs"] or hidden else ""))

def init(store: StoreOpt = None) -> None:
    """Create constraints and indexes (idempotent) and wait until they are online."""
    with open_store_cli(store) as st:
        _need_neo4j(st)
        names = st.init_schema()
    console.print(f"Schema ready: {len(names)} constraints and indexes.")

def repair(
    store: StoreOpt = None,
    min_age: Annotated[float, typer.Option("--min-age", help="Only leftovers older than this many seconds "
                                           "(on a shared store: longer than any write takes).")] = 0.0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be removed; remove nothing.")] = False,
) -> None:
    """Delete leftovers of interrupted writes (models left without their first run or half
    deleted, incomplete runs, stale analyses), naming each. A write in progress looks the same:
    run it when no job is writing, or give --min-age."""
    with open_store_cli(store) as st:
        _need_neo4j(st)
        found = st.leftovers(min_age_s=min_age)
        if not dry_run and any(found.values()):
            st.repair(min_age_s=min_age, found=found)
    kinds = {"models": "hidden model", "runs": "incomplete run", "analyses": "stale analysis"}
    plural = {"hidden model": "hidden models", "incomplete run": "incomplete runs", "stale analysis": "stale analyses"}
    parts = [f"{len(ids)} {kinds[k] if len(ids) == 1 else plural[kinds[k]]}" + (f" ({', '.join(ids)})" if ids else "")
             for k, ids in found.items()]
    console.print(f"{'Would remove' if dry_run else 'Removed'} {', '.join(parts)}.", highlight=False)

def gds_estimate(
    nodes: Annotated[int, typer.Option("--nodes", min=1, help="Neurons in the run (sum of layer sizes).")],
    edges: Annotated[int, typer.Option("--edges", min=0, help="Edges in the run (sum of n_l * n_{l+1}).")],
    store: StoreOpt = None,
    json_: JsonOpt = False,
) -> None:
    """GDS memory estimate for analysing one run of the given size in one projection."""
    from ..analysis.gds import estimate_memory

    with open_store_cli(store) as st:
        _need_neo4j(st)
        version, reason = st.gds_version()
        if version is None:
            from ..errors import GdsMissingError

            raise GdsMissingError(
                f"Neo4j at {st.uri} has no Graph Data Science, so it cannot estimate GDS memory; install the "
                "plugin (NEO4J_PLUGINS='[\"graph-data-science\"]', see docker-compose.yml). "
                "`nifgraph analyze --engine local` needs none."
            )
        est = estimate_memory(st, nodes, edges)
    if json_:
        print_json(est)
        return
    for key in ("betweenness", "louvain", "leiden"):
        e = est.get(key, {})
        console.print(f"{key:12s} {e.get('required_memory', e.get('error', '?'))}")

def query(
    name: Annotated[str | None, typer.Argument(help="Named query (see --list).")] = None,
    param: ParamOpt = None,
    list_: Annotated[bool, typer.Option("--list", help="List the named queries and their parameters.")] = False,
    store: StoreOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Run a named Cypher query from cypher/queries (read-only) on a Neo4j store (--list works anywhere).

    On the embedded DuckDB store use the commands instead: show, prune, attribution, compare."""
    from .. import cypher

    if list_ or name is None:
        qs = cypher.named_queries()
        if json_:
            print_json([{"name": q.short_name, "params": q.param_types, "answers": q.description} for q in qs])
            return
        from ..render.layout import Col, FitTable

        console.print(FitTable(
            [Col("name"), Col("params"), Col("answers")],
            [[q.short_name, ", ".join(f"{k}:{v}" for k, v in q.param_types.items()), q.description] for q in qs],
            title="Named queries (nifgraph query NAME --param k=v)",
        ))
        return
    q = cypher.named(name)
    params = _params(q, param)
    with open_store_cli(store) as st:
        _need_neo4j(st)
        frame = st.run_named(q.short_name, params)
        why = "" if len(frame) or json_ else _no_rows_why(st, q, params)
    if json_:
        print_json(_frame_json(frame))
        return
    console.print(frame_table(frame, title=q.description) if len(frame) else f"No rows.{why}")


def _no_rows_why(st: Any, q: Any, params: dict[str, Any]) -> str:
    """Why a per-model query found nothing, when it is that the model has no run (or no analysed
    run, for a query that reads only analysed runs)."""
    import re

    ref = params.get("model_id")
    if ref is None:
        return ""
    model, _ = st.resolve(str(ref))
    runs = st.list_runs(model.model_id)
    if not runs:
        return f" Model {model.model_id} has no NIF run yet: run `nifgraph estimate {model.model_id}`."
    needs_analysis = re.search(r"WHERE[^\n]*analysis_id IS NOT NULL", q.text) is not None
    if needs_analysis and st.newest_analysed(runs) is None:
        return f" Model {model.model_id} has no analysed run yet: run `nifgraph analyze {runs[-1].run_id}`."
    return ""

def run_cypher(
    text: Annotated[str, typer.Argument(help="Cypher statement; use $name parameters.")],
    param: ParamOpt = None,
    write: Annotated[bool, typer.Option("--write", help="Allow the statement to write.")] = False,
    store: StoreOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Run ad-hoc Cypher (read-only unless --write) on a Neo4j store."""
    params = _adhoc_params(param)  # bad input is named before anything connects
    with open_store_cli(store) as st:
        _need_neo4j(st)
        frame = st.run_cypher(text, params, write=write)
    if json_:
        print_json(_frame_json(frame))
        return
    console.print(frame_table(frame) if len(frame) else "No rows.")

def push(
    models: Annotated[list[str] | None, typer.Argument(help="Model ids (or run ids, prefixes); none with --all.")] = None,
    to: Annotated[str, typer.Option("--to", help="Target store: neo4j://host:7687 or a DuckDB path.")] = "",
    all_: Annotated[bool, typer.Option("--all", help="Copy every model.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Rewrite runs the target already has.")] = False,
    store: StoreOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Copy models with their runs and analyses from --store to --to (idempotent)."""
    _copy(store, to, models, all_, force, json_, "--to")

def pull(
    models: Annotated[list[str] | None, typer.Argument(help="Model ids (or run ids, prefixes); none with --all.")] = None,
    from_: Annotated[str, typer.Option("--from", help="Source store: neo4j://host:7687 or a DuckDB path.")] = "",
    all_: Annotated[bool, typer.Option("--all", help="Copy every model.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Rewrite runs this store already has.")] = False,
    store: StoreOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Copy models with their runs and analyses from --from into --store (idempotent)."""
    _copy(from_, store, models, all_, force, json_, "--from")


def _copy(src_uri: str | None, dst_uri: str | None, models: list[str] | None, all_: bool, force: bool, json_: bool, flag: str) -> None:
    if not (src_uri if flag == "--from" else dst_uri):
        raise ValidationError(f"Give the other store with {flag} (neo4j://host:7687 or a DuckDB path).")
    if not models and not all_:
        raise ValidationError("Name the models to copy, or pass --all.")
    from ..config import default_store

    if (src_uri or default_store()) == (dst_uri or default_store()):
        raise ValidationError(f"Source and target are the same store ({src_uri or default_store()}).")
    with open_store_cli(src_uri, read_only=True) as src, open_store_cli(dst_uri) as dst:
        summary = copy_models(src, dst, None if all_ else list(models or []), force=force)
    if json_:
        print_json(summary.as_dict())
        return
    console.print(
        f"Copied {_count(len(summary.models), 'model')}: {_count(summary.runs_copied, 'run')} written, "
        f"{summary.runs_skipped} already present, {_count(summary.analyses_copied, 'analysis', 'analyses')} written."
    )


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def register(app: typer.Typer) -> None:
    db = typer.Typer(no_args_is_help=True, help="Neo4j database: status, schema, repair, GDS memory estimates.")
    app.add_typer(db, name="db")
    db.command("status")(status)
    db.command("init")(init)
    db.command("repair")(repair)
    db.command("estimate")(gds_estimate)
    app.command("query")(query)
    app.command("cypher")(run_cypher)
    app.command("push")(push)
    app.command("pull")(pull)

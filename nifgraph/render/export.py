"""Export of a stored run as tables: nodes (neurons with their metrics) and edges, in Parquet
and/or CSV, for pandas or Spark; or (``neo4j-import``) as the header+CSV files
``neo4j-admin database import full`` turns into a Neo4j nifgraph store (the bulk path for very
large runs, :mod:`nifgraph.store.neo4j_import`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from ..errors import ValidationError
from ..records import EDGE_COLUMNS, AnalysisRecord, ModelRecord, RunRecord, conform, layer_table
from ..store.base import Store
from .files import output_folder, write_file, write_files

__all__ = ["FORMATS", "export_run"]

FORMATS = ("parquet", "csv", "both", "neo4j-import")


def export_run(
    store: Store, model: ModelRecord, run: RunRecord, analysis: AnalysisRecord | None, folder: Path, fmt: str = "both"
) -> list[Path]:
    """Write ``<run>_nodes`` and ``<run>_edges`` into ``folder``; returns the paths written.

    Layers are numbered in topological order (``layer``, ``src_layer``, ``dst_layer``); nodes
    carry their layer's name and kind, edges their layers' names and ``skip`` (the edge jumps
    over at least one layer: a residual or concatenated path of a DAG model) and, for a DAG
    run, ``samples`` (``means``, or ``positions`` for a pair estimated with ``--conv-samples positions``)."""
    if fmt not in FORMATS:
        raise ValidationError(f"--format must be parquet, csv, both or neo4j-import; got {fmt!r}.")
    if fmt == "neo4j-import":
        return export_neo4j_import(store, model, run, folder)
    output_folder(folder)
    layers = layer_table(model)
    names = [la["name"] for la in layers]
    kinds = [la["kind"] for la in layers]
    nodes = store.get_neurons(model.model_id)
    nodes = nodes.assign(layer_name=[names[i] for i in nodes["layer"]], layer_kind=[kinds[i] for i in nodes["layer"]])
    if analysis is not None:
        nodes = nodes.merge(analysis.neuron_metrics, on=["layer", "idx"], how="left")
    on_pos = {tuple(p) for p in run.settings.get("position_pairs") or []}
    dag = "conv_samples" in run.settings

    def decorate(edges: pd.DataFrame) -> pd.DataFrame:
        # layers are numbered in topological order; a skip edge jumps over at least one layer
        edges = edges.assign(
            model_id=model.model_id,
            src_layer_name=[names[i] for i in edges["src_layer"]], dst_layer_name=[names[i] for i in edges["dst_layer"]],
            skip=(edges["dst_layer"] - edges["src_layer"]) > 1,
        )
        if dag:  # a DAG run: each edge's samples, means per image or positions
            edges = edges.assign(samples=[
                "positions" if (a, b) in on_pos else "means"
                for a, b in zip(edges["src_layer"].tolist(), edges["dst_layer"].tolist(), strict=True)
            ])
        return edges

    parts = store.iter_edges(run.run_id)  # checks the run now, before any file is written
    try:
        written = []
        stem = folder / f"{run.run_id}_nodes"
        if fmt in ("parquet", "both"):
            written.append(write_file(stem.with_suffix(".parquet"), lambda tmp: nodes.to_parquet(tmp, index=False)))
        if fmt in ("csv", "both"):
            written.append(write_file(stem.with_suffix(".csv"), lambda tmp: nodes.to_csv(tmp, index=False)))
        stem = folder / f"{run.run_id}_edges"
        suffixes = [x for x, f in ((".parquet", ("parquet", "both")), (".csv", ("csv", "both"))) if fmt in f]
        written += write_files(
            [stem.with_suffix(x) for x in suffixes],
            lambda tmps: _write_edges(parts, decorate, dict(zip(suffixes, tmps, strict=True))),
        )
    finally:  # release the store's read (DuckDB holds its file until the last slice)
        close = getattr(parts, "close", None)
        if close is not None:
            close()
    return written


def _write_edges(parts: Iterator[pd.DataFrame], decorate: Callable[[pd.DataFrame], pd.DataFrame], tmps: dict) -> None:
    """The run's edges into the files ``tmps`` (``{".parquet": path, ".csv": path}``) slice by slice,
    in one pass over the store's read: a slice of edges in memory at a time, never the table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq_writer, schema, csv_file = None, None, None

    def write(frame: pd.DataFrame, header: bool) -> None:
        nonlocal pq_writer, schema
        if ".parquet" in tmps:
            with _naming(tmps[".parquet"]):
                table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
                if pq_writer is None:
                    schema = table.schema
                    pq_writer = pq.ParquetWriter(tmps[".parquet"], schema)
                pq_writer.write_table(table)
        if csv_file is not None:
            with _naming(tmps[".csv"]):
                frame.to_csv(csv_file, index=False, header=header)

    try:
        if ".csv" in tmps:
            csv_file = open(tmps[".csv"], "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed below
        first = True
        for part in parts:
            write(decorate(part), first)
            first = False
        if first:  # a run without edges: the columns alone
            write(decorate(conform(pd.DataFrame({c: [] for c in EDGE_COLUMNS}), EDGE_COLUMNS)), True)
    finally:
        if pq_writer is not None:
            with _naming(tmps[".parquet"]):
                pq_writer.close()
        if csv_file is not None:
            with _naming(tmps[".csv"]):
                csv_file.close()


@contextmanager
def _naming(path: Path) -> Iterator[None]:
    """An ``OSError`` that names no file (a full disk in a stream's write) names ``path``, so the
    one-line error of :func:`~.files.write_files` names the file that failed."""
    try:
        yield
    except OSError as exc:
        if not exc.filename:
            exc.filename = str(path)
        raise


def export_neo4j_import(store: Store, model: ModelRecord, run: RunRecord, folder: Path) -> list[Path]:
    """Write ``<run>_neo4j-import/``: the files of :data:`~nifgraph.store.neo4j_import.IMPORT_FILES`
    and ``import.txt`` with the ``neo4j-admin`` command and the steps after it; returns the paths."""
    from ..store.neo4j_import import import_command, import_tables

    tables = import_tables(model, store.get_neurons(model.model_id), run, store.get_edges(run.run_id))
    target = output_folder(Path(folder) / f"{run.run_id}_neo4j-import")
    written = [
        write_file(target / name, lambda tmp, f=frame: f.to_csv(tmp, index=False))
        for name, frame in tables.items()
    ]
    command = import_command({p.name: str(p.resolve()) for p in written})
    steps = (
        f"# Run {run.run_id} of model {model.model_id} ({len(tables['nif.csv']):,} edges) for a new, empty database.\n"
        "# 1. Stop the Neo4j server, then (add --overwrite-destination to replace an empty database):\n"
        f"{command}\n"
        "# 2. Start the server, then: nifgraph db init --store neo4j://HOST:7687\n"
        f"# 3. Checkpoint and analysis: nifgraph push {model.model_id} --store <this store> --to neo4j://HOST:7687\n"
        "#    (the run is already complete there and is skipped).\n"
    )
    written.append(write_file(target / "import.txt", lambda tmp: tmp.write_text(steps, encoding="utf-8")))
    return written

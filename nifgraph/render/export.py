"""Export of a stored run as tables: nodes (neurons with their metrics) and edges, in Parquet
and/or CSV, for pandas or Spark; or (``neo4j-import``) as the header+CSV files
``neo4j-admin database import full`` turns into a Neo4j nifgraph store (the bulk path for very
large runs, :mod:`nifgraph.store.neo4j_import`)."""

from __future__ import annotations

from pathlib import Path

from ..errors import ValidationError
from ..records import AnalysisRecord, ModelRecord, RunRecord, layer_table
from ..store.base import Store
from .files import output_folder, write_file

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
    edges = store.get_edges(run.run_id).assign(model_id=model.model_id)
    # layers are numbered in topological order; a skip edge jumps over at least one layer
    edges = edges.assign(
        src_layer_name=[names[i] for i in edges["src_layer"]], dst_layer_name=[names[i] for i in edges["dst_layer"]],
        skip=(edges["dst_layer"] - edges["src_layer"]) > 1,
    )
    if "conv_samples" in run.settings:  # a DAG run: each edge's samples, means per image or positions
        on_pos = {tuple(p) for p in run.settings.get("position_pairs") or []}
        edges = edges.assign(samples=[
            "positions" if (a, b) in on_pos else "means"
            for a, b in zip(edges["src_layer"].tolist(), edges["dst_layer"].tolist(), strict=True)
        ])
    written = []
    for label, frame in (("nodes", nodes), ("edges", edges)):
        stem = folder / f"{run.run_id}_{label}"
        if fmt in ("parquet", "both"):
            written.append(write_file(stem.with_suffix(".parquet"), lambda tmp, f=frame: f.to_parquet(tmp, index=False)))
        if fmt in ("csv", "both"):
            written.append(write_file(stem.with_suffix(".csv"), lambda tmp, f=frame: f.to_csv(tmp, index=False)))
    return written


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

"""Export of a stored run as tables: nodes (neurons with their metrics) and edges, in Parquet
and/or CSV, for pandas, Spark or ``neo4j-admin database import``."""

from __future__ import annotations

from pathlib import Path

from ..errors import ValidationError
from ..records import AnalysisRecord, ModelRecord, RunRecord, layer_table
from ..store.base import Store
from .files import output_folder, write_file

__all__ = ["FORMATS", "export_run"]

FORMATS = ("parquet", "csv", "both")


def export_run(
    store: Store, model: ModelRecord, run: RunRecord, analysis: AnalysisRecord | None, folder: Path, fmt: str = "both"
) -> list[Path]:
    """Write ``<run>_nodes`` and ``<run>_edges`` into ``folder``; returns the paths written.

    Layers are numbered in topological order (``layer``, ``src_layer``, ``dst_layer``); nodes
    carry their layer's name and kind, edges their layers' names and ``skip`` (the edge jumps
    over at least one layer: a residual or concatenated path of a DAG model) and, for a DAG
    run, ``samples`` (``means``, or ``positions`` for a pair estimated with ``--conv-samples positions``)."""
    if fmt not in FORMATS:
        raise ValidationError(f"--format must be parquet, csv or both; got {fmt!r}.")
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

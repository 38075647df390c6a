"""Export of a stored run as tables: nodes (neurons with their metrics) and edges, in Parquet
and/or CSV, for pandas, Spark or ``neo4j-admin database import``."""

from __future__ import annotations

from pathlib import Path

from ..errors import ValidationError
from ..records import AnalysisRecord, ModelRecord, RunRecord
from ..store.base import Store
from .files import output_folder, write_file

__all__ = ["FORMATS", "export_run"]

FORMATS = ("parquet", "csv", "both")


def export_run(
    store: Store, model: ModelRecord, run: RunRecord, analysis: AnalysisRecord | None, folder: Path, fmt: str = "both"
) -> list[Path]:
    """Write ``<run>_nodes`` and ``<run>_edges`` into ``folder``; returns the paths written."""
    if fmt not in FORMATS:
        raise ValidationError(f"--format must be parquet, csv or both; got {fmt!r}.")
    output_folder(folder)
    nodes = store.get_neurons(model.model_id)
    if analysis is not None:
        nodes = nodes.merge(analysis.neuron_metrics, on=["layer", "idx"], how="left")
    edges = store.get_edges(run.run_id).assign(model_id=model.model_id)
    written = []
    for label, frame in (("nodes", nodes), ("edges", edges)):
        stem = folder / f"{run.run_id}_{label}"
        if fmt in ("parquet", "both"):
            written.append(write_file(stem.with_suffix(".parquet"), lambda tmp, f=frame: f.to_parquet(tmp, index=False)))
        if fmt in ("csv", "both"):
            written.append(write_file(stem.with_suffix(".csv"), lambda tmp, f=frame: f.to_csv(tmp, index=False)))
    return written

"""Copy models with their runs and analyses between any two stores, through the
:class:`~nifgraph.store.base.Store` interface (every ``put_*`` is idempotent, so copying
twice changes nothing)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import NotFoundError
from ..records import RunRecord
from .base import Store

__all__ = ["CopySummary", "copy_models"]


@dataclass
class CopySummary:
    """What :func:`copy_models` did."""

    models: list[str] = field(default_factory=list)
    runs_copied: int = 0
    runs_skipped: int = 0
    analyses_copied: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "models": self.models,
            "runs_copied": self.runs_copied,
            "runs_skipped": self.runs_skipped,
            "analyses_copied": self.analyses_copied,
        }


def copy_models(src: Store, dst: Store, model_ids: list[str] | None = None, *, force: bool = False) -> CopySummary:
    """Copy models (all when ``model_ids`` is None) with their complete runs and analyses.

    A run already complete in ``dst`` is skipped unless ``force``; an analysis is copied
    when ``dst`` lacks it or holds a different one. Idempotent."""
    if model_ids is None:
        models = src.list_models()
    else:
        models = [src.resolve(ref)[0] for ref in model_ids]
    out = CopySummary()
    for m in models:
        dst.put_model(m, src.get_neurons(m.model_id), src.checkpoint_of(m))
        out.models.append(m.model_id)
        for r in src.list_runs(m.model_id):
            try:
                dst.get_run(r.run_id)
                present = True
            except NotFoundError:
                present = False
            if present and not force:
                out.runs_skipped += 1
            else:
                _copy_run(src, dst, r)
                out.runs_copied += 1
            a = src.get_analysis(r.run_id)
            if a is not None:
                b = dst.get_analysis(r.run_id)
                if force or b is None or b != a or b.created_at != a.created_at:
                    dst.put_analysis(a)
                    out.analyses_copied += 1
    return out


def _copy_run(src: Store, dst: Store, run: RunRecord) -> None:
    """``run`` from ``src`` into ``dst`` slice by slice (``src.iter_edges`` into ``dst.run_writer``):
    at most a slice of edges in memory at a time, and all or nothing in ``dst`` as ``put_run``
    (a run without edges is committed by the writer all the same)."""
    parts = src.iter_edges(run.run_id)
    try:
        with dst.run_writer(run) as writer:
            for part in parts:
                writer.add(part)
    finally:  # a refused slice: release the source's read (DuckDB holds its file until then)
        close = getattr(parts, "close", None)
        if close is not None:
            close()

"""The one store interface. Two implementations: :mod:`.duckdb_store` (embedded default)
and :mod:`.neo4j_store` (production). Both hold the same property graph (see
:mod:`nifgraph.records`) and pass the same conformance suite (``tests/test_store_conformance.py``).

Contract every implementation keeps:

* ``put_*`` are idempotent: writing the same id again replaces it, never duplicates.
* ``put_run`` and ``put_analysis`` are all-or-nothing: if a write fails half-way (the
  ``_after_batch`` fault hook lets tests interrupt it), no part of it is visible to any
  read and what was stored before is unchanged.
* Reads of a missing id raise :class:`~nifgraph.errors.NotFoundError` naming the id and the
  command that lists valid ones.
* Tables come back with exactly the columns of :mod:`nifgraph.records`, sorted by key.
"""

from __future__ import annotations

import abc
from typing import Any

import pandas as pd

from ..errors import NotFoundError
from ..records import AnalysisRecord, ModelRecord, RunRecord

__all__ = ["Store"]


class Store(abc.ABC):
    """Abstract store. Use :func:`nifgraph.store.open_store` to get one."""

    #: Human-readable location (file path or server URI, never a password).
    uri: str = ""
    #: Short name of the implementation: ``"duckdb"`` or ``"neo4j"``.
    kind: str = ""
    #: Rows per write batch.
    batch_size: int = 5000

    # -- lifecycle -------------------------------------------------------------------
    def close(self) -> None:  # pragma: no cover - trivial default
        """Release connections."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _after_batch(self, table: str, rows_written: int) -> None:
        """Called by implementations after each write batch. Tests patch it to raise and so
        prove that an interrupted write leaves nothing visible."""

    # -- models ----------------------------------------------------------------------
    @abc.abstractmethod
    def put_model(self, model: ModelRecord, neurons: pd.DataFrame) -> None:
        """Insert or replace a model and its neurons (``NEURON_COLUMNS``), atomically."""

    @abc.abstractmethod
    def get_model(self, model_id: str) -> ModelRecord:
        """The model ``model_id``; :class:`NotFoundError` if absent."""

    @abc.abstractmethod
    def list_models(self) -> list[ModelRecord]:
        """Every stored model, oldest first."""

    @abc.abstractmethod
    def get_neurons(self, model_id: str) -> pd.DataFrame:
        """The neuron table of a model, sorted by (layer, idx)."""

    @abc.abstractmethod
    def delete_model(self, model_id: str) -> None:
        """Delete a model with its runs and analyses; :class:`NotFoundError` if absent."""

    # -- runs ------------------------------------------------------------------------
    @abc.abstractmethod
    def put_run(self, run: RunRecord, edges: pd.DataFrame) -> None:
        """Insert or replace a complete run and its edges (``EDGE_COLUMNS``), atomically.
        The model must exist (:class:`NotFoundError` otherwise)."""

    @abc.abstractmethod
    def get_run(self, run_id: str) -> RunRecord:
        """The complete run ``run_id``; :class:`NotFoundError` if absent or incomplete."""

    @abc.abstractmethod
    def list_runs(self, model_id: str | None = None) -> list[RunRecord]:
        """Complete runs (of one model, or all), oldest first."""

    @abc.abstractmethod
    def get_edges(self, run_id: str) -> pd.DataFrame:
        """The edge table of a complete run, sorted by (src_layer, src_idx, dst_idx)."""

    # -- analyses --------------------------------------------------------------------
    @abc.abstractmethod
    def put_analysis(self, analysis: AnalysisRecord) -> None:
        """Insert or replace the analysis of a run, atomically."""

    @abc.abstractmethod
    def get_analysis(self, run_id: str) -> AnalysisRecord | None:
        """The analysis of a run, or ``None`` if the run has none yet."""

    # -- conveniences shared by every store -----------------------------------------
    def latest_run(self, model_id: str) -> RunRecord:
        """The newest complete run of a model."""
        self.get_model(model_id)
        runs = self.list_runs(model_id)
        if not runs:
            raise NotFoundError(
                f"Model {model_id!r} has no NIF run yet; run `nifgraph estimate {model_id}` first."
            )
        return runs[-1]

    def resolve(self, ref: str) -> tuple[ModelRecord, RunRecord | None]:
        """Resolve a model id, a run id, a unique id prefix or ``latest`` to (model, run).

        A model id gives its newest run (or ``None`` if it has none)."""
        ref = ref.strip()
        models = self.list_models()
        if ref == "latest":
            if not models:
                raise NotFoundError("The store holds no model yet; run `nifgraph run` first.")
            model = models[-1]
        else:
            runs = self.list_runs()
            run_hits = [r for r in runs if r.run_id == ref] or [
                r for r in runs if r.run_id.startswith(ref)
            ]
            model_hits = [m for m in models if m.model_id == ref] or [
                m for m in models if m.model_id.startswith(ref) or m.name == ref
            ]
            if len(run_hits) == 1 and not model_hits:
                run = run_hits[0]
                return self.get_model(run.model_id), run
            if len(model_hits) > 1 or len(run_hits) > 1:
                raise NotFoundError(
                    f"{ref!r} matches several models or runs; give more of the id "
                    "(see `nifgraph models`)."
                )
            if not model_hits:
                raise NotFoundError(
                    f"No model or run {ref!r} in store {self.uri}; list them with `nifgraph models`."
                )
            model = model_hits[0]
        runs = self.list_runs(model.model_id)
        return model, (runs[-1] if runs else None)

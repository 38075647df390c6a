"""The one store interface. Two implementations: :mod:`.duckdb` (embedded default)
and :mod:`.neo4j` (production). Both hold the same property graph (see
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import NotFoundError, StoreError
from ..faults import point
from ..records import AnalysisRecord, ModelRecord, RunRecord

__all__ = ["Store", "SummaryInputs", "no_run_error", "no_analysis_error"]


def no_run_error(model_id: str) -> NotFoundError:
    """The one message for "this model has no run yet"."""
    return NotFoundError(f"Model {model_id} has no NIF run yet; run `nifgraph estimate {model_id}` first.")


def no_analysis_error(run_id: str) -> NotFoundError:
    """The one message for "this run has no analysis yet"."""
    return NotFoundError(f"Run {run_id} has no analysis yet; run `nifgraph analyze {run_id}` first.")


@dataclass(frozen=True)
class SummaryInputs:
    """What a comparison row of one model is derived from: its newest analysed run's headline
    numbers, its flow concentration and its attribution matrix ``(n_features, n_classes)``."""

    model: ModelRecord
    run_id: str
    estimator: str
    n_prunable: int
    n_communities: int
    modularity: float
    flow_concentration: float
    attribution: np.ndarray


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
        prove that an interrupted write leaves nothing visible (and the SIGKILL tests pause here,
        see :mod:`nifgraph.faults`)."""
        point(f"write:{table}")

    # -- models ----------------------------------------------------------------------
    @abc.abstractmethod
    def put_model(self, model: ModelRecord, neurons: pd.DataFrame, checkpoint: bytes | None = None) -> None:
        """Insert or replace a model, its neurons (``NEURON_COLUMNS``) and its checkpoint (the
        bytes of a nifgraph checkpoint file, kept inside the store so that a store can be moved,
        copied or pushed whole; ``None``: no checkpoint), atomically."""

    @abc.abstractmethod
    def get_checkpoint(self, model_id: str) -> bytes | None:
        """The checkpoint bytes stored with a model, or ``None`` (models stored before
        checkpoints moved into the store: see :func:`nifgraph.stored.load_model_network`)."""

    def put_model_with_run(
        self, model: ModelRecord, neurons: pd.DataFrame, checkpoint: bytes | None, run: RunRecord, edges: pd.DataFrame
    ) -> None:
        """Store a model and its first run as one unit, so that a job killed half-way never
        leaves a model without its run. The embedded store does it in one transaction; this
        generic version writes the model, then the run, and removes the model again if the run
        cannot be written (a process killed between the two writes can still leave the model)."""
        self.put_model(model, neurons, checkpoint)
        try:
            self.put_run(run, edges)
        except BaseException:
            self.delete_model(model.model_id)
            raise

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
    def legacy_checkpoint_dirs(self) -> list[Path]:
        """Folders where stores of schema 2 and older kept checkpoint files (``models/``)."""
        return []

    def checkpoint_of(self, model: ModelRecord) -> bytes | None:
        """The checkpoint bytes of ``model``: the copy inside the store, or for a model stored
        by an older nifgraph its file: the recorded path, else the file of that name in
        :meth:`legacy_checkpoint_dirs` (so a moved store folder still finds it)."""
        data = self.get_checkpoint(model.model_id)
        if data is not None:
            return data
        recorded = str(model.meta.get("checkpoint") or "")
        if not recorded.endswith(".pt"):
            return None
        for candidate in [Path(recorded)] + [d / Path(recorded).name for d in self.legacy_checkpoint_dirs()]:
            if candidate.is_file():
                return candidate.read_bytes()
        return None

    def latest_run(self, model_id: str) -> RunRecord:
        """The newest complete run of a model."""
        self.get_model(model_id)
        runs = self.list_runs(model_id)
        if not runs:
            raise no_run_error(model_id)
        return runs[-1]

    def need_run(self, ref: str, *, prefer_analysed: bool = False) -> tuple[ModelRecord, RunRecord]:
        """:meth:`resolve` ``ref`` to a model and a run; a model without runs is an error.

        A run id (or prefix) gives that run. A model id gives its newest run and ``latest`` the
        newest run of any model; with ``prefer_analysed`` (commands that read results), the
        newest *analysed* run instead, or the newest run when none is analysed."""
        model, run, _ = self._pick_run(ref, prefer_analysed)
        return model, run

    def need_analysis(self, ref: str) -> tuple[ModelRecord, RunRecord, AnalysisRecord]:
        """:meth:`need_run` preferring analysed runs (a model id or ``latest`` gives the newest
        analysed run), and that run's analysis (an error when it has none)."""
        model, run, analysis = self._pick_run(ref, True)
        if analysis is None:
            analysis = self.get_analysis(run.run_id)
        if analysis is None:
            raise no_analysis_error(run.run_id)
        return model, run, analysis

    def _pick_run(self, ref: str, prefer_analysed: bool) -> tuple[ModelRecord, RunRecord, AnalysisRecord | None]:
        """:meth:`need_run`'s choice, with the analysis it read on the way (``None`` when it
        read none), so that no analysis is read twice."""
        ref = ref.strip()
        if ref == "latest":  # the newest run: a model stored without one (an estimate
            runs = self.list_runs()  # interrupted, a plain `train`) does not hide the last result
            if runs:
                found = self._newest_analysed(runs) if prefer_analysed else None
                run, analysis = found or (runs[-1], None)
                return self.get_model(run.model_id), run, analysis
        model, run = self.resolve(ref)
        if run is None:
            raise no_run_error(model.model_id)
        if prefer_analysed and not run.run_id.startswith(ref):  # a model was named, not a run
            found = self._newest_analysed(self.list_runs(model.model_id))
            if found:
                return model, found[0], found[1]
        return model, run, None

    def _newest_analysed(self, runs: list[RunRecord]) -> tuple[RunRecord, AnalysisRecord] | None:
        """The newest of ``runs`` (oldest first) that has an analysis, with it; or ``None``."""
        for run in reversed(runs):
            analysis = self.get_analysis(run.run_id)
            if analysis is not None:
                return run, analysis
        return None

    def summary_inputs(self, model_ids: list[str], *, flow_top: float = 0.1) -> list[SummaryInputs]:
        """For each model, the inputs of its comparison row (newest analysed run).

        This generic version reads through the interface; a store may answer in fewer round
        trips (Neo4j: three named queries for all models)."""
        from ..nif import flow_concentration, matrices_from_edges

        out = []
        for mid in model_ids:
            model, run, analysis = self.need_analysis(mid)
            edges = self.get_edges(run.run_id)
            mats = ([edges["value"].to_numpy(dtype=float)] if model.is_dag  # a DAG: every edge's value
                    else matrices_from_edges(edges, model.layer_sizes, "value"))
            out.append(SummaryInputs(
                model, run.run_id, run.estimator, len(analysis.prunable), analysis.n_communities,
                analysis.modularity, flow_concentration(mats, flow_top), analysis.attribution_matrix(model),
            ))
        return out

    # -- database-side features (Neo4j); the embedded store says what it lacks ---------
    def gds_version(self) -> tuple[str | None, str | None]:
        """``(version, None)`` when Graph Data Science is available, else ``(None, reason)``."""
        return None, f"{self.uri} is a {self.kind} store, not Neo4j"

    def run_named(self, name: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Run the named query ``cypher/queries/<name>.cypher`` read-only with ``params``."""
        raise StoreError(
            f"Named Cypher queries need a Neo4j store; {self.uri} is a {self.kind} store: "
            "pass --store neo4j://host:7687."
        )

    def resolve(self, ref: str) -> tuple[ModelRecord, RunRecord | None]:
        """Resolve a model id, a run id, a unique id prefix or ``latest`` to (model, run).

        A model id gives its newest run (or ``None`` if it has none)."""
        ref = ref.strip()
        if not ref:
            raise NotFoundError("No model or run given; pass a model id, a run id, a unique prefix or 'latest'.")
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

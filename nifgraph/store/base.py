"""The one store interface. Two implementations: :mod:`.duckdb` (embedded default)
and :mod:`.neo4j` (production). Both hold the same property graph (see
:mod:`nifgraph.records`) and pass the same conformance suite (``tests/test_store_conformance.py``).

Contract every implementation keeps:

* ``put_*`` are idempotent: writing the same id again replaces it, never duplicates.
* ``put_run`` and ``put_analysis`` are all-or-nothing: if a write fails half-way (the
  ``_after_batch`` fault hook lets tests interrupt it), no part of it is visible to any
  read and what was stored before is unchanged.
* A run is written through :meth:`Store.run_writer` (``put_run`` and ``put_model_with_run``
  too: one write path): its edges arrive in slices while the run is estimated, and the run
  becomes visible, whole, only when the writer commits; an exception, a refused slice or a
  killed process leaves nothing of it visible.
* Reads of a missing id raise :class:`~nifgraph.errors.NotFoundError` naming the id and the
  command that lists valid ones.
* Tables come back with exactly the columns of :mod:`nifgraph.records`, sorted by key.
* :meth:`Store.iter_edges` reads a run's edges back in bounded slices of the columns asked for
  (what the analysis uses: no frame of all edges, issue #14); the slices, joined, are
  :meth:`Store.get_edges` in the same order.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import NotFoundError, StoreError, ValidationError
from ..faults import point
from ..records import (
    EDGE_COLUMNS,
    AnalysisRecord,
    ModelRecord,
    RunRecord,
    bad_edges,
    conform,
    layer_table,
)

__all__ = [
    "Store", "RunWriter", "ModelParts", "SummaryInputs", "no_run_error", "no_analysis_error", "edge_columns",
    "edge_pages", "EDGE_ORDER", "READ_SLICE_ROWS",
]

#: The order of :meth:`Store.iter_edges` (and of ``get_edges``): source layer, source index, target
#: index, target layer (the last only breaks ties between a DAG source's target layers).
EDGE_ORDER = ("src_layer", "src_idx", "dst_idx", "dst_layer")
#: Edges per slice of :meth:`Store.iter_edges` unless asked otherwise (~1.3 MB for five columns).
#: Smaller than the write slices: DuckDB keeps the buffers of a page's query (result, sort) after
#: it, so the page sets the read's peak; for the 1.1M-edge run of ``scripts/bench_read_memory.py``,
#: +30-49 MiB at 32,768 against +62-66 MiB at 65,536 and +75-88 MiB at 131,072, in 0.2-0.45 s.
READ_SLICE_ROWS = 32_768
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def edge_columns(columns: Iterable[str] | str | None) -> tuple[str, ...]:
    """The checked column list of :meth:`Store.iter_edges`: names of ``EDGE_COLUMNS`` (``None``:
    all of them), each once; anything else is a one-line :class:`ValidationError`."""
    if columns is None:
        return tuple(EDGE_COLUMNS)
    cols = (columns,) if isinstance(columns, str) else tuple(columns)
    unknown = [c for c in cols if not isinstance(c, str) or c not in EDGE_COLUMNS]
    if unknown:
        raise ValidationError(
            f"Unknown edge column {unknown[0]!r}; the edge columns are {', '.join(EDGE_COLUMNS)}."
        )
    twice = sorted({c for c in cols if cols.count(c) > 1})
    if twice:
        raise ValidationError(f"Edge column {twice[0]!r} is asked for twice; name each column once.")
    if not cols:
        raise ValidationError(f"No edge column asked for; name some of {', '.join(EDGE_COLUMNS)}.")
    return cols


def _slice_rows(batch_rows: Any) -> int:
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int | np.integer) or batch_rows < 1:
        raise ValidationError(f"batch_rows must be a whole number of edges, at least 1; got {batch_rows!r}.")
    return int(batch_rows)


def edge_pages(model: ModelRecord, batch_rows: int) -> Iterator[tuple[int, int, int]]:
    """Key ranges that cut a run's edges into pages of about ``batch_rows`` edges, in
    :data:`EDGE_ORDER`: ``(src_layer, first src_idx, last src_idx)``, inclusive, whole source
    neurons each, as many sources a page as their most edges allow (a neuron has at most one edge
    to each neuron of every layer its layer feeds). A layer's first and last pages are open below
    and above (every stored edge is in exactly one page). Layers that feed nothing have none."""
    sizes = [int(s) for s in model.layer_sizes]
    fan = [0] * len(sizes)
    for b, layer in enumerate(layer_table(model)):
        for a in layer["inputs"]:
            fan[int(a)] += sizes[b]
    for layer, (n, out) in enumerate(zip(sizes, fan, strict=True)):
        if out == 0:
            continue
        width = max(1, batch_rows // out)
        starts = list(range(0, max(n, 1), width))
        for k, lo in enumerate(starts):
            hi = starts[k + 1] - 1 if k + 1 < len(starts) else _INT64_MAX
            yield layer, (_INT64_MIN if k == 0 else lo), hi


def cut(frame: pd.DataFrame, batch_rows: int) -> Iterator[pd.DataFrame]:
    """``frame`` in slices of at most ``batch_rows`` rows (none for an empty frame), index from 0."""
    for start in range(0, len(frame), batch_rows):
        yield frame.iloc[start : start + batch_rows].reset_index(drop=True)

#: A model's record, its neuron table and its checkpoint bytes (``None``: none), written with its
#: first run (:meth:`Store.put_model_with_run`, ``Store.run_writer(run, model_parts=…)``).
ModelParts = tuple[ModelRecord, pd.DataFrame, bytes | None]


def checked_neurons(model: ModelRecord, neurons: pd.DataFrame) -> pd.DataFrame:
    """The neuron table of ``model`` (``NEURON_COLUMNS``), refused unless every row carries the
    model's id and there is one row per neuron (what every store's ``put_model`` writes)."""
    from ..records import NEURON_COLUMNS, conform

    frame = conform(neurons, NEURON_COLUMNS)
    if (frame["model_id"] != model.model_id).any():
        raise ValidationError("Every neuron row must carry the model's model_id.")
    expected = sum(model.layer_sizes)
    if len(frame) != expected:
        raise ValidationError(f"Model {model.model_id} has {expected} neurons but {len(frame)} neuron rows were given.")
    return frame


def check_analysis(model: ModelRecord, analysis: Any) -> None:
    """Refuse an analysis that names a neuron ``model`` lacks (a metrics row outside its
    layers, an attribution entry outside its inputs and classes), before any store writes it."""
    sizes = np.asarray(model.layer_sizes, dtype=np.int64)
    m = analysis.neuron_metrics
    if len(m):
        layer, idx = m["layer"].to_numpy(dtype=np.int64), m["idx"].to_numpy(dtype=np.int64)
        inside = (layer >= 0) & (layer < len(sizes))
        bad = ~inside | (idx < 0) | (idx >= sizes[np.clip(layer, 0, len(sizes) - 1)])
        if bad.any():
            k = int(np.argmax(bad))
            raise ValidationError(
                f"Analysis of run {analysis.run_id} has a row for neuron (layer {layer[k]}, idx {idx[k]}), which model "
                f"{model.model_id} ({model.architecture}) does not have."
            )
    a = analysis.attribution
    if len(a):
        f, c = a["feature_idx"].to_numpy(dtype=np.int64), a["class_idx"].to_numpy(dtype=np.int64)
        bad = (f < 0) | (f >= sizes[0]) | (c < 0) | (c >= sizes[-1])
        if bad.any():
            k = int(np.argmax(bad))
            raise ValidationError(
                f"Analysis of run {analysis.run_id} attributes feature {f[k]} to class {c[k]}; model {model.model_id} "
                f"has {sizes[0]} features and {sizes[-1]} classes."
            )


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


class RunWriter(abc.ABC):
    """Writes one run, and with ``model_parts`` its model, in slices of its edge table.

    Use it as a context manager (:meth:`Store.run_writer`)::

        with store.run_writer(run) as w:
            for part in slices:          # each a frame of EDGE_COLUMNS (run_id is set here)
                w.add(part)
            w.set_run(final_run)         # optional: the record as it is known at the end

    Each slice is checked when it is added (edges that do not fit the model: a one-line
    :class:`~nifgraph.errors.ValidationError`) and handed to the store, which does not keep it
    in memory beyond a bounded buffer. A normal exit commits: the run (and the model) become
    visible together and whole. An exception inside the block, a refused slice or a failed
    commit removes everything of this run (and of the model given with it); a killed process
    leaves nothing visible either (how each store guarantees it: :mod:`.duckdb`, :mod:`.neo4j`).
    A writer whose slice was refused stays refused: leaving its block normally raises
    :class:`~nifgraph.errors.StoreError` and commits nothing.
    """

    def __init__(self, store: Store, run: RunRecord, model_parts: ModelParts | None) -> None:
        if model_parts is not None and run.model_id != model_parts[0].model_id:
            raise ValidationError(
                f"Run {run.run_id} belongs to model {run.model_id}, not {model_parts[0].model_id}; "
                "pass the run of this model."
            )
        self.store = store
        self.run = run
        self.model_parts = model_parts
        #: The model the edges must fit (the one given, or the stored one, read on entering).
        self.model: ModelRecord | None = model_parts[0] if model_parts is not None else None
        #: Edges added so far, and whether any carries a q-value (a permutation null ran).
        self.n_edges = 0
        self.significance = False
        self._state = "new"  # new -> open -> committed | failed

    def __enter__(self) -> RunWriter:
        """Check that the model exists (:class:`~nifgraph.errors.NotFoundError` at once, not after
        the estimate) and open the writer."""
        if self._state != "new":
            raise StoreError(f"The writer of run {self.run.run_id} was used already; open a new one with store.run_writer.")
        if self.model is None:
            self.model = self.store.get_model(self.run.model_id)
        self._state = "open"
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        if exc_type is not None or self._state != "open":
            was_open = self._state == "open"
            self._fail()
            if exc_type is None and not was_open:
                raise StoreError(
                    f"Run {self.run.run_id} was not stored: a slice of its edges was refused earlier "
                    "(see the error above); nothing of it is in the store."
                )
            return False
        try:
            self._commit()
        except BaseException:
            self._fail()
            raise
        self._state = "committed"
        return False

    def set_run(self, run: RunRecord) -> None:
        """Replace the run record that the commit stores (its settings and timings are known only
        at the end); same run id and model."""
        if (run.run_id, run.model_id) != (self.run.run_id, self.run.model_id):
            raise ValidationError(
                f"set_run: the writer writes run {self.run.run_id} of model {self.run.model_id}; "
                f"got run {run.run_id} of model {run.model_id}."
            )
        self.run = run

    def add(self, edges: pd.DataFrame) -> None:
        """Check one slice of the edge table (``EDGE_COLUMNS``; ``run_id`` is set to the run's)
        and write it (hidden until the commit)."""
        if self._state != "open":
            raise StoreError(
                f"The writer of run {self.run.run_id} is not open; use it as `with store.run_writer(run) as w:`."
            )
        try:
            frame = conform(edges.assign(run_id=self.run.run_id), EDGE_COLUMNS)
            bad = bad_edges(frame, self.model)
            if bad.any():
                raise ValidationError(
                    f"Run {self.run.run_id}: {int(bad.sum())} edges do not go from layer l to layer l + 1 (for a DAG "
                    "model: from a layer to one it feeds); pass the edges of one run of this model."
                )
            self._write(frame)
        except BaseException:
            self._fail()
            raise
        self.n_edges += len(frame)
        self.significance = self.significance or bool(frame["q_value"].notna().any())

    def _fail(self) -> None:
        """Remove everything written so far (once)."""
        if self._state == "open":
            self._state = "failed"
            self._discard()

    @abc.abstractmethod
    def _write(self, frame: pd.DataFrame) -> None:
        """Write one checked slice (``EDGE_COLUMNS`` exactly) so that no reader sees it yet."""

    @abc.abstractmethod
    def _commit(self) -> None:
        """Make the run (and the model) visible, whole, at once."""

    @abc.abstractmethod
    def _discard(self) -> None:
        """Remove what was written; must not raise for a store that went away."""


class Store(abc.ABC):
    """Abstract store. Use :func:`nifgraph.store.open_store` to get one."""

    #: Human-readable location (file path or server URI, never a password).
    uri: str = ""
    #: Short name of the implementation: ``"duckdb"`` or ``"neo4j"``.
    kind: str = ""
    #: Whether :meth:`delete_model` is one transaction (an interrupted one deletes nothing); when
    #: not, the model is hidden first and :meth:`deleting_models` lists it until it is finished.
    atomic_delete: bool = True
    #: Rows per write batch.
    batch_size: int = 5000
    #: Edges per slice when ``put_run`` / ``put_model_with_run`` hand a whole table to the run writer.
    slice_rows: int = 131_072
    #: Edges per slice of :meth:`iter_edges` when the caller does not say (the analysis does not).
    read_rows: int = READ_SLICE_ROWS

    # -- lifecycle -------------------------------------------------------------------
    def close(self) -> None:  # pragma: no cover - trivial default
        """Release connections."""

    def check_layers_kept(self, model: ModelRecord) -> None:
        """Refuse to replace a stored model that has runs with one of other layers (sizes or,
        for a DAG model, connections): its stored edges would no longer fit it."""
        from ..records import layer_table

        try:
            old = self.get_model(model.model_id)
        except NotFoundError:
            return
        same = tuple(old.layer_sizes) == tuple(model.layer_sizes) and layer_table(old) == layer_table(model)
        if not same and self.list_runs(model.model_id):
            raise ValidationError(
                f"Model {model.model_id} is stored as {old.architecture} with runs; a model of other layers "
                f"({model.architecture}) cannot replace it: store it under a new id, or `nifgraph delete "
                f"{model.model_id}` first."
            )

    def ready(self) -> None:
        """Fail now, in one line, if the store cannot be used (a job calls it before it trains
        or estimates, not after). The embedded store was checked when it opened; Neo4j connects
        and checks its schema here."""

    def check_writable(self) -> None:
        """Fail now, in one line, if this process cannot write to the store (a job that writes
        calls it before it trains or estimates: a read-only file fails in a second, not after
        the work). The default checks nothing: a server says so at the first write."""

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
        leaves a model without its run (:meth:`run_writer` with ``model_parts``)."""
        with self.run_writer(run, model_parts=(model, neurons, checkpoint)) as w:
            self._add_sliced(w, edges)

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

    def deleting_models(self) -> list[tuple[str, str]]:
        """``(model_id, name)`` of the models whose deletion was interrupted: hidden from every
        read, partly deleted, finished by :meth:`finish_deletion` (or ``repair``). Always empty
        where :attr:`atomic_delete`."""
        return []

    def finish_deletion(self, model_id: str) -> None:
        """Finish the interrupted deletion of ``model_id`` (one of :meth:`deleting_models`)."""
        raise NotFoundError(f"No interrupted deletion of model {model_id!r} in {self.uri}.")

    # -- runs ------------------------------------------------------------------------
    @abc.abstractmethod
    def run_writer(self, run: RunRecord, model_parts: ModelParts | None = None) -> RunWriter:
        """A :class:`RunWriter` that inserts or replaces ``run`` from slices of its edges, all or
        nothing. Without ``model_parts`` the model must exist (:class:`NotFoundError` otherwise,
        at once); with ``(model, neurons, checkpoint)`` the model is written with the run, as
        one unit (a failure leaves neither)."""

    def put_run(self, run: RunRecord, edges: pd.DataFrame) -> None:
        """Insert or replace a complete run and its edges (``EDGE_COLUMNS``), atomically
        (:meth:`run_writer`, in slices of :attr:`slice_rows`). The model must exist (:class:`NotFoundError`
        otherwise)."""
        with self.run_writer(run) as w:
            self._add_sliced(w, edges)

    def _add_sliced(self, writer: RunWriter, edges: pd.DataFrame) -> None:
        """``edges`` into ``writer`` in slices of :attr:`slice_rows` (each checked and copied on its own)."""
        step = max(int(self.slice_rows), 1)
        for start in range(0, len(edges), step):
            writer.add(edges.iloc[start : start + step])
        if len(edges) == 0:
            writer.add(edges)

    @abc.abstractmethod
    def get_run(self, run_id: str) -> RunRecord:
        """The complete run ``run_id``; :class:`NotFoundError` if absent or incomplete."""

    @abc.abstractmethod
    def list_runs(self, model_id: str | None = None) -> list[RunRecord]:
        """Complete runs (of one model, or all), oldest first: by ``created_at`` (when the
        estimate began; a copy keeps it), ties in write order, then by id — the same order in
        every store, so ``latest`` and a model's newest run do not depend on the store."""

    @abc.abstractmethod
    def get_edges(self, run_id: str) -> pd.DataFrame:
        """The edge table of a complete run, sorted by (src_layer, src_idx, dst_idx, dst_layer)."""

    def iter_edges(
        self, run_id: str, columns: Iterable[str] | str | None = None, batch_rows: int | None = None
    ) -> Iterator[pd.DataFrame]:
        """A complete run's edge table in slices of at most ``batch_rows`` edges (``None``:
        :attr:`read_rows`, 32,768), with only ``columns`` (names of ``EDGE_COLUMNS``, in the
        order given; ``None``: all), each with its dtype of ``EDGE_COLUMNS``, in the order of
        :meth:`get_edges` (:data:`EDGE_ORDER`).
        Joined, the slices are ``get_edges(run_id)[columns]`` bit for bit; a run without edges
        yields none. What a read holds at a time is one page of about ``batch_rows`` edges of
        those columns, never the whole table.

        Checked at once, before the first slice: an unknown or repeated column or a bad
        ``batch_rows`` is a one-line :class:`ValidationError`, a missing or incomplete run the
        :class:`NotFoundError` of :meth:`get_edges`. A run replaced or deleted by another process
        while its slices are read is a :class:`StoreError` (Neo4j; DuckDB holds the file for
        reading until the last slice is taken or the iterator is closed, so write to the store
        only after it)."""
        cols = edge_columns(columns)
        rows = _slice_rows(self.read_rows if batch_rows is None else batch_rows)
        return self._edge_slices(run_id, cols, rows)

    @abc.abstractmethod
    def _edge_slices(self, run_id: str, columns: tuple[str, ...], batch_rows: int) -> Iterator[pd.DataFrame]:
        """:meth:`iter_edges` with checked arguments: check the run now (not at the first
        ``next``), then return the iterator of slices."""

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

        A run id (or prefix) gives that run. A model id gives its newest run, and ``latest``
        names the model last worked on (:meth:`_latest`) as if its id were given; with
        ``prefer_analysed`` (commands that read results), the newest *analysed* run instead, or
        the newest run when none is analysed."""
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
        model, run = self.resolve(ref)
        if run is None:
            raise no_run_error(model.model_id)
        if prefer_analysed and (ref == "latest" or not run.run_id.startswith(ref)):  # a model was named, not a run
            found = self.newest_analysed(self.list_runs(model.model_id))
            if found:
                return model, found[0], found[1]
        return model, run, None

    def newest_analysed(self, runs: list[RunRecord]) -> tuple[RunRecord, AnalysisRecord] | None:
        """The newest of ``runs`` (oldest first, as :meth:`list_runs` gives them) that has an
        analysis, with it; or ``None`` (what reading commands, ``models`` and ``compare --all`` use)."""
        for run in reversed(runs):
            analysis = self.get_analysis(run.run_id)
            if analysis is not None:
                return run, analysis
        return None

    def summary_inputs(self, model_ids: list[str], *, flow_top: float = 0.1) -> list[SummaryInputs]:
        """For each model, the inputs of its comparison row (newest analysed run).

        This generic version reads through the interface; a store may answer in fewer round
        trips (Neo4j: three named queries for all models)."""
        from ..nif import add_edges, flow_concentration

        out = []
        for mid in model_ids:
            model, run, analysis = self.need_analysis(mid)
            sizes = model.layer_sizes
            if model.is_dag:  # a DAG: every edge's value
                mats = [p["value"].to_numpy(dtype=float) for p in self.iter_edges(run.run_id, ("value",))]
                mats = mats or [np.zeros(0)]
            else:
                mats = [np.zeros((sizes[la], sizes[la + 1])) for la in range(len(sizes) - 1)]
                for part in self.iter_edges(run.run_id, ("src_layer", "src_idx", "dst_idx", "value")):
                    add_edges(mats, part, "value")
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
        models = self.list_models()
        model, run = self._match(ref, models, None if ref.strip() == "latest" else self.list_runs())
        if run is not None:
            return model, run
        runs = self.list_runs(model.model_id)
        return model, (runs[-1] if runs else None)

    def _latest(self, models: list[ModelRecord], runs: list[RunRecord]) -> ModelRecord:
        """The model ``latest`` names, for every command alike: the one last worked on -- the
        model of the newest run, or a model stored after that run without one (a plain
        ``train``; then commands that need a run say so instead of reading another model's)."""
        if not models:
            raise NotFoundError("The store holds no model yet; run `nifgraph run` first.")
        newest = models[-1]
        if not runs:
            return newest
        last = runs[-1]
        if newest.created_at >= last.created_at and all(r.model_id != newest.model_id for r in runs):
            return newest
        by_id = {m.model_id: m for m in models}
        return by_id.get(last.model_id) or self.get_model(last.model_id)

    def resolve_models(self, refs: list[str]) -> list[ModelRecord]:
        """The model each of ``refs`` names (as :meth:`resolve` reads it: an id, a run id, a
        unique prefix, a name or ``latest``), reading the lists of models and runs once."""
        models, runs = self.list_models(), self.list_runs()
        return [self._match(ref, models, runs)[0] for ref in refs]

    def _match(
        self, ref: str, models: list[ModelRecord], runs: list[RunRecord] | None
    ) -> tuple[ModelRecord, RunRecord | None]:
        """:meth:`resolve`'s rule on the lists of models and runs: the run only when a run id
        (or prefix) was given."""
        ref = str(ref).strip()
        if not ref:
            raise NotFoundError("No model or run given; pass a model id, a run id, a unique prefix or 'latest'.")
        if ref == "latest":
            return self._latest(models, self.list_runs() if runs is None else runs), None
        runs = runs or []
        run_hits = [r for r in runs if r.run_id == ref] or [r for r in runs if r.run_id.startswith(ref)]
        model_hits = [m for m in models if m.model_id == ref] or [
            m for m in models if m.model_id.startswith(ref) or m.name == ref
        ]
        if len(run_hits) == 1 and not model_hits:
            run = run_hits[0]
            by_id = {m.model_id: m for m in models}
            return by_id.get(run.model_id) or self.get_model(run.model_id), run
        named = [m for m in model_hits if m.name == ref]
        if len(named) > 1 and len(named) == len(model_hits) and not run_hits:
            ids = ", ".join(m.model_id for m in named[:4]) + (", …" if len(named) > 4 else "")
            raise NotFoundError(
                f"{len(named)} models are named {ref!r} ({ids}): a name says data set, architecture and seed, and each "
                "`nifgraph run` or `train` stores a new model; give one's id, or --name a model when you store it."
            )
        if len(model_hits) > 1 or len(run_hits) > 1:
            raise NotFoundError(f"{ref!r} matches several models or runs; give more of the id (see `nifgraph models`).")
        if not model_hits:
            raise NotFoundError(f"No model or run {ref!r} in store {self.uri}; list them with `nifgraph models`.")
        return model_hits[0], None

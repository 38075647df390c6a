"""The Neo4j store: the nifgraph property graph in a Neo4j server (5.26 LTS or 2025.x).

Data model (diagram in ``docs/neo4j.md``)::

    (:Model {model_id, …})-[:HAS_NEURON]->(:Neuron:Feature|Hidden|Class {neuron_id, model_id, layer, idx, …})
    (:Run {run_id, model_id, status, analysis_id, …})-[:OF_MODEL]->(:Model)
    (:Neuron)-[:NIF {run_id, value, value_norm, q_value}]->(:Neuron)
    (:NIFColumns {run_id, seq, src_layer[], src_idx[], dst_layer[], dst_idx[], relevance[], redundancy[],
                  cost[], p_value[], ci_low[], ci_high[]})   one per write batch; a column equal to its default is left out
    (:Run)-[:HAS_ANALYSIS]->(:Analysis {analysis_id, run_id, status, …})
    (:Analysis)-[:HAS_RESULT]->(:NeuronResult {analysis_id, run_id, neuron_id, layer, idx, betweenness,
                                               community, in_flow, out_flow, prunable})-[:OF_NEURON]->(:Neuron)
    (:Neuron:Feature)-[:ATTRIBUTION {analysis_id, run_id, value}]->(:Neuron:Class)

Property names are the snake_case column names of :mod:`nifgraph.records`; dicts (``meta``,
``settings``) are JSON strings; NaN is stored as a missing property and read back as NaN. The
secondary edge statistics live in columns (``NIFColumns``) so that a relationship needs two
property records instead of four to five; :mod:`.neo4j_layout` has the schema versions and the
migration on open.

How writes stay all-or-nothing
------------------------------
* ``put_model`` is one transaction.
* Every run is written through :meth:`Neo4jStore.run_writer` (``put_run`` and
  ``put_model_with_run`` are one slice through it). With ``model_parts`` (``put_model_with_run``,
  what ``nifgraph run`` uses) the model is written *pending* (``Model.pending`` = the run id it
  waits for; every model read skips pending models); ``store/complete_run`` publishes it in the
  transaction that completes the run. A process killed at any point leaves no visible model
  without its run; ``repair()`` deletes the pending model with the incomplete run.
* The writer creates the ``Run`` with ``status = 'writing'`` when the first slice arrives, deletes
  the edges and columns an earlier write of that run left, writes each slice at once in columnar
  batches of ``batch_size`` (one managed transaction each: the batch's neurons matched once by
  ``neuron_id``, then ``CREATE`` of its relationships and its ``NIFColumns`` node — the run has
  no edges left for ``MERGE`` to find; the nodes are numbered across slices), and at the commit
  sets the final run properties and ``status = 'complete'`` last. Every read filters
  ``status = 'complete'``. If a slice or a batch fails, or the code writing the slices raises,
  the run is deleted again; if the process dies, ``repair()`` deletes it later (a streamed run is
  hidden while the rest of it is estimated: run ``repair`` when no job is writing). Re-putting a
  run first hides it and drops its analyses, which were of the old edges (an interrupted
  *replacement* therefore leaves the run absent, never mixed).
* ``put_analysis`` writes the new analysis under a fresh ``analysis_id``; one transaction then
  marks it complete and points ``Run.analysis_id`` at it; only after that is the previous one
  deleted. Reads follow the pointer, so an interrupted write leaves the previous analysis intact.

All Cypher lives in ``cypher/store`` and ``cypher/admin`` (see :mod:`nifgraph.cypher`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from .. import cypher
from ..errors import NotFoundError, StoreError, ValidationError
from ..records import (
    ATTRIBUTION_COLUMNS,
    EDGE_COLUMNS,
    NEURON_COLUMNS,
    NEURON_METRIC_COLUMNS,
    AnalysisRecord,
    ModelRecord,
    RunRecord,
    conform,
    model_from_flat,
    nan_of,
    neuron_key,
    new_id,
    run_from_flat,
)
from .base import (
    ModelParts,
    RunWriter,
    Store,
    SummaryInputs,
    check_analysis,
    checked_neurons,
    cut,
    edge_pages,
    no_analysis_error,
    no_run_error,
)
from .neo4j_admin import Neo4jAdmin, expected_schema
from .neo4j_layout import EDGE_LAYOUT, SCHEMA_VERSION, check_schema
from .neo4j_records import (
    COLUMN_PROPS,
    analysis_props,
    batches,
    edge_batches,
    edge_frame,
    model_props,
    now_ms,
    rows_of,
    run_props,
)
from .neo4j_runner import DriverRunner, bind, run_in_tx, split_uri

__all__ = ["Neo4jStore", "Neo4jRunWriter", "DriverRunner", "expected_schema", "SCHEMA_VERSION"]

NEURON_PROPS = [c for c in NEURON_COLUMNS if c != "model_id"]
METRIC_PROPS = list(NEURON_METRIC_COLUMNS)


# -- the store -------------------------------------------------------------------------
class Neo4jStore(Neo4jAdmin, Store):
    """The nifgraph store in a Neo4j server.

    Parameters
    ----------
    uri : str
        ``neo4j://host:7687`` or ``bolt://host:7687`` (``+s`` / ``+ssc`` for TLS).
    user, password : str
        Credentials (``$NEO4J_USER`` / ``$NEO4J_PASSWORD`` with :meth:`from_env`).
    database : str, optional
        Database name (default: the server's default database).

    Nothing connects until the first operation; then an unreachable server or wrong
    credentials raise :class:`~nifgraph.errors.StoreUnavailableError` with the fix.
    """

    kind = "neo4j"
    atomic_delete = False  # a model's runs go in batches: hidden first, finished by finish_deletion/repair
    #: Rows per write transaction (edges of ``put_run`` in columnar batches of even size, at most
    #: this many). With schema 2, 10 000-15 000 edges a transaction cost the server least on a 5.26
    #: server with 1 GB of heap: about 12 s of server CPU per million edges, against 16-20 s at
    #: 20 000 and 13-17 s at 2 500-5 000 (docs/neo4j.md, ``scripts/bench_neo4j_writes.py``).
    batch_size = 12500

    def __init__(
        self, uri: str, user: str = "neo4j", password: str = "", database: str | None = None, *, runner: Any = None
    ) -> None:
        self.uri = uri
        self.user = user
        self.database = database or None
        #: The I/O seam (:class:`DriverRunner`); tests pass a recording fake.
        self.runner: Any = runner if runner is not None else DriverRunner(uri, user, password, self.database)
        self._schema_checked = False
        self._schema_version: int | None = None

    @classmethod
    def from_env(cls, uri: str) -> Neo4jStore:
        """A store for ``uri`` with credentials from ``NEO4J_USER`` (default ``neo4j``),
        ``NEO4J_PASSWORD`` and ``NEO4J_DATABASE``; a user and password in the URI
        (``bolt://user:password@host:7687``, e.g. the other server of a ``push``) take their
        place, and the store's ``uri`` (what every message shows) is the URI without them."""
        clean, user, password = split_uri(uri)
        return cls(
            clean,
            user or os.environ.get("NEO4J_USER", "neo4j"),
            password if password is not None else os.environ.get("NEO4J_PASSWORD", ""),
            os.environ.get("NEO4J_DATABASE") or None,
        )

    @property
    def driver(self) -> Any:
        """The verified ``neo4j.Driver`` (for the GDS client)."""
        return self.runner.driver

    def close(self) -> None:
        self.runner.close()

    def __repr__(self) -> str:
        return f"Neo4jStore({self.uri!r}, user={self.user!r}, database={self.database!r})"

    # -- statement helpers (every call names a cypher file and passes exactly its params)
    def query(self, name: str, **params: Any) -> list[dict[str, Any]]:
        """Rows of the read-only Cypher file ``name`` (e.g. ``"gds/neuron_flows"``), run with
        exactly the parameters its header declares."""
        self._ready()
        return self.runner.read(bind(name, params), params)

    def ready(self) -> None:
        self._ready()

    def _ready(self) -> None:
        """Check the schema version once, on the first statement (migrating a database written by
        an older nifgraph; refusing one written by a newer one), see :mod:`.neo4j_layout`."""
        if self._schema_checked:
            return
        self._schema_checked = True  # first: the check's own statements come through here too
        try:
            self._schema_version = check_schema(self)
        except BaseException:
            self._schema_checked = False
            raise

    def _columns(self, name: str, **params: Any) -> dict[str, list[Any]]:
        """The one row of lists returned by the read-only Cypher file ``name`` (columnar reads)."""
        self._ready()
        return self.runner.read_columns(bind(name, params), params)

    def _write(self, name: str, **params: Any) -> list[dict[str, Any]]:
        self._ready()
        return self.runner.write(bind(name, params), params)

    def _drain(self, name: str, **params: Any) -> int:
        """Repeat a ``… LIMIT $limit DELETE … RETURN count(*) AS deleted`` query until it deletes nothing."""
        total = 0
        while True:
            n = int(self._write(name, **params)[0]["deleted"])
            total += n
            if n < params["limit"]:
                return total

    # -- models ----------------------------------------------------------------------
    def put_model(self, model: ModelRecord, neurons: pd.DataFrame, checkpoint: bytes | None = None) -> None:
        self._put_model(model, neurons, checkpoint, pending=None)

    def _put_model(
        self, model: ModelRecord, neurons: pd.DataFrame, checkpoint: bytes | None, *, pending: str | None
    ) -> None:
        """One transaction; ``pending``: the run id a new model stays hidden until (see
        :meth:`put_model_with_run`), ``None`` to make it visible now."""
        mid = model.model_id
        frame = checked_neurons(model, neurons)
        self.check_layers_kept(model)
        rows = [
            {"neuron_id": neuron_key(mid, r["layer"], r["idx"]), "props": {"model_id": mid, **r}}
            for r in rows_of(frame, NEURON_PROPS)
        ]
        props = model_props(model)
        seq = time.time_ns()

        def work(run: Callable[..., Any]) -> None:
            run_in_tx(run, "store/put_model", model=props, seq=seq, pending=pending, now_ms=now_ms())
            run_in_tx(run, "store/delete_checkpoint", model_id=mid)
            if checkpoint is not None:
                run_in_tx(run, "store/put_checkpoint", model_id=mid, data=bytes(checkpoint))
                self._after_batch("checkpoints", 1)
            run_in_tx(run, "store/prune_neurons", model_id=mid, neuron_ids=[r["neuron_id"] for r in rows])
            done = 0
            for batch in batches(rows, self.batch_size):
                run_in_tx(run, "store/put_neurons", model_id=mid, rows=batch)
                done += len(batch)
                self._after_batch("neurons", done)

        self._ready()
        self.runner.write_tx(work)

    def _one(self, name: str, missing: str, **params: Any) -> dict[str, Any]:
        """The single row of the read query ``name``, or :class:`NotFoundError` saying ``missing``."""
        rows = self.query(name, **params)
        if not rows:
            raise NotFoundError(f"No {missing} in store {self.uri}; list them with `nifgraph models`.")
        return rows[0]

    def get_model(self, model_id: str) -> ModelRecord:
        return model_from_flat(self._one("store/get_model", f"model {model_id!r}", model_id=model_id)["model"])

    def list_models(self) -> list[ModelRecord]:
        return [model_from_flat(r["model"]) for r in self.query("store/list_models")]

    def get_neurons(self, model_id: str) -> pd.DataFrame:
        self.get_model(model_id)
        rows = self.query("store/get_neurons", model_id=model_id)
        frame = pd.DataFrame(rows, columns=list(NEURON_COLUMNS))
        return conform(frame, NEURON_COLUMNS)

    def delete_model(self, model_id: str) -> None:
        self.get_model(model_id)
        self._purge_model(model_id)

    def deleting_models(self) -> list[tuple[str, str]]:
        return [(str(r["model_id"]), str(r["name"] or "")) for r in self.query("store/deleting_models")]

    def finish_deletion(self, model_id: str) -> None:
        if model_id not in {m for m, _ in self.deleting_models()}:
            super().finish_deletion(model_id)
        self._purge_model(model_id)

    def _purge_model(self, model_id: str) -> None:
        """Delete a model (visible or pending) with its runs, neurons and checkpoint. The model
        is hidden first, so an interrupted deletion leaves nothing visible and ``repair()``
        finishes it."""
        hidden = self._write("store/hide_runs_of_model", model_id=model_id, now_ms=now_ms())
        runs = [r["run_id"] for r in hidden if r["run_id"] is not None]
        for run_id in runs:
            self._purge_run(run_id)
        self._drain("store/delete_neurons", model_id=model_id, limit=self.batch_size)
        self._write("store/delete_checkpoint", model_id=model_id)
        self._write("store/delete_model_node", model_id=model_id)

    def get_checkpoint(self, model_id: str) -> bytes | None:
        self.get_model(model_id)
        rows = self.query("store/get_checkpoint", model_id=model_id)
        return bytes(rows[0]["data"]) if rows and rows[0]["data"] is not None else None

    # -- runs ------------------------------------------------------------------------
    def run_writer(self, run: RunRecord, model_parts: ModelParts | None = None) -> Neo4jRunWriter:
        return Neo4jRunWriter(self, run, model_parts)

    def get_run(self, run_id: str) -> RunRecord:
        return run_from_flat(self._one("store/get_run", f"complete run {run_id!r}", run_id=run_id)["run"])

    def list_runs(self, model_id: str | None = None) -> list[RunRecord]:
        return [run_from_flat(r["run"]) for r in self.query("store/list_runs", model_id=model_id)]

    def get_edges(self, run_id: str) -> pd.DataFrame:
        self.get_run(run_id)
        columns = self._columns("store/get_edges", run_id=run_id)
        frame = edge_frame(columns, run_id)
        frame.insert(0, "run_id", run_id)
        return conform(frame, EDGE_COLUMNS)

    def _edge_slices(self, run_id: str, columns: tuple[str, ...], batch_rows: int) -> Iterator[pd.DataFrame]:
        model = self.get_model(self.get_run(run_id).model_id)
        return self._edge_pages(run_id, model, columns, batch_rows)

    def _edge_pages(
        self, run_id: str, model: ModelRecord, columns: tuple[str, ...], batch_rows: int
    ) -> Iterator[pd.DataFrame]:
        """One ``store/get_edge_page`` (one read transaction) per key range of
        :func:`~.base.edge_pages`: the sources are matched by the (model_id, layer, idx) index,
        their relationships of this run expanded; the ``NIFColumns`` nodes are read only when a
        secondary column is asked for (then each page filters every node of the run to its own
        edges, server-side). A page that finds the run gone, or completed again (``updated_ms``),
        ends the read with a :class:`StoreError`: the slices never mix two versions of a run."""
        types = {c: EDGE_COLUMNS[c] for c in columns}
        secondary = any(c in COLUMN_PROPS for c in columns)
        stamp: list[Any] = []
        for layer, lo, hi in edge_pages(model, batch_rows):
            got = self._columns(
                "store/get_edge_page", run_id=run_id, layer=layer, from_idx=lo, to_idx=hi, with_columns=secondary
            )
            if not got.get("complete") or (stamp and got.get("updated_ms") != stamp[0]):
                if not stamp:
                    self.get_run(run_id)  # deleted since the check: the one NotFoundError
                raise StoreError(
                    f"Run {run_id} changed while its edges were read (rewritten or deleted by another "
                    "process); read it again."
                )
            stamp[:] = [got.get("updated_ms")]
            got["src_layer"] = np.full(len(got["src_idx"]), layer, dtype=np.int64)
            if secondary:  # a column the node does not store comes as null: rebuilt from its default
                got["blocks"] = [{k: v for k, v in b.items() if v is not None} for b in got["blocks"]]
            frame = edge_frame(got, run_id, secondary=secondary)
            if len(frame) == 0:
                continue
            if "run_id" in types:
                frame["run_id"] = run_id
            yield from cut(conform(frame, types), batch_rows)

    def _purge_run(self, run_id: str) -> None:
        """Delete a run with its edges, columns and analyses, in batches."""
        self._empty_run(run_id)
        self._write("store/delete_run_node", run_id=run_id)

    def _empty_run(self, run_id: str) -> None:
        """Delete a run's edges, columns and analyses, in batches (its node stays)."""
        self._drain("store/delete_run_edges", run_id=run_id, limit=self.batch_size)
        self._drain("store/delete_run_columns", run_id=run_id, from_seq=0, limit=self.batch_size)
        self._purge_analyses(run_id)

    def _purge_analyses(self, run_id: str, keep: str | None = None) -> None:
        """Delete every analysis of a run but ``keep``."""
        for r in self.query("store/analyses_of_run", run_id=run_id):
            if r["analysis_id"] != keep:
                self._purge_analysis(r["analysis_id"])

    # -- analyses --------------------------------------------------------------------
    def put_analysis(self, analysis: AnalysisRecord) -> None:
        run = self.get_run(analysis.run_id)
        mid = run.model_id
        aid = new_id("a")
        metrics = conform(analysis.neuron_metrics, NEURON_METRIC_COLUMNS)
        metric_rows = [
            {"neuron_id": neuron_key(mid, r["layer"], r["idx"]), "props": r}
            for r in rows_of(metrics, METRIC_PROPS)
        ]
        model = self.get_model(mid)
        check_analysis(model, analysis)
        last = model.n_layers - 1
        attr = conform(analysis.attribution, ATTRIBUTION_COLUMNS)
        attr_rows = [
            {"src": neuron_key(mid, 0, r["feature_idx"]), "dst": neuron_key(mid, last, r["class_idx"]), "value": r["value"]}
            for r in rows_of(attr, list(ATTRIBUTION_COLUMNS))
        ]
        self._write("store/begin_analysis", analysis=analysis_props(analysis, aid), now_ms=now_ms())
        try:
            done = 0
            for batch in batches(metric_rows, self.batch_size):
                self._write("store/put_neuron_results", analysis_id=aid, run_id=run.run_id, rows=batch)
                done += len(batch)
                self._after_batch("neuron_metrics", done)
            done = 0
            for batch in batches(attr_rows, self.batch_size):
                self._write("store/put_attribution", analysis_id=aid, run_id=run.run_id, rows=batch)
                done += len(batch)
                self._after_batch("attribution", done)
            self._write("store/publish_analysis", run_id=run.run_id, analysis_id=aid, now_ms=now_ms())
        except BaseException:
            try:
                self._purge_analysis(aid)
            except Exception:  # pragma: no cover - server gone: `nifgraph db repair` cleans up
                pass
            raise
        # the new analysis is current; the old ones are garbage now (repair finishes the job
        # if this is interrupted)
        try:
            self._purge_analyses(run.run_id, keep=aid)
        except StoreError:  # pragma: no cover
            pass

    def get_analysis(self, run_id: str) -> AnalysisRecord | None:
        self.get_run(run_id)
        for _ in range(5):  # the header, its rows, the header again: an analysis published between
            rows = self.query("store/get_analysis", run_id=run_id)  # the reads is read again
            if not rows:
                return None
            props = rows[0]["analysis"]
            aid = props["analysis_id"]
            m = pd.DataFrame(self.query("store/get_neuron_results", analysis_id=aid), columns=list(NEURON_METRIC_COLUMNS))
            a = pd.DataFrame(self.query("store/get_attribution", analysis_id=aid), columns=list(ATTRIBUTION_COLUMNS))
            again = self.query("store/get_analysis", run_id=run_id)
            if again and again[0]["analysis"]["analysis_id"] == aid:  # still current: the old one is
                break  # deleted only after the pointer moved, so its rows were whole
        else:
            raise StoreError(f"The analysis of run {run_id} kept changing while it was read; read it again.")
        for c in ("betweenness", "in_flow", "out_flow"):
            m[c] = pd.to_numeric(m[c], errors="coerce").astype("float64")
        a["value"] = pd.to_numeric(a["value"], errors="coerce").astype("float64")
        return AnalysisRecord(
            run_id=props["run_id"],
            engine=props.get("engine", ""),
            gamma=nan_of(props.get("gamma")),
            threshold=nan_of(props.get("threshold")),
            modularity=nan_of(props.get("modularity")),
            n_communities=int(props.get("n_communities") or 0),
            accuracy_before=nan_of(props.get("accuracy_before")),
            accuracy_after=nan_of(props.get("accuracy_after")),
            neuron_metrics=conform(m, NEURON_METRIC_COLUMNS),
            attribution=conform(a, ATTRIBUTION_COLUMNS),
            settings=json.loads(props.get("settings") or "{}"),
            created_at=props.get("created_at", ""),
        )

    def _purge_analysis(self, analysis_id: str) -> None:
        self._drain("store/delete_neuron_results", analysis_id=analysis_id, limit=self.batch_size)
        self._drain("store/delete_attribution", analysis_id=analysis_id, limit=self.batch_size)
        self._write("store/delete_analysis_node", analysis_id=analysis_id)

    # -- comparisons through the named queries (cypher/queries) ----------------------
    def summary_inputs(self, model_ids: list[str], *, flow_top: float = 0.1) -> list[SummaryInputs]:
        """:meth:`Store.summary_inputs` from three named queries (one round trip each for all
        models): ``model_summary`` (model, newest analysed run, its analysis, prunable count),
        ``flow_concentration`` (top share computed in Cypher) and ``attribution_matrix``
        (feature × class entries). Same run choice, errors and result as the generic path."""
        ids = list(model_ids)
        rows = {r["model_id"]: r for r in self._named("queries/model_summary", model_ids=ids).to_dict("records")}
        for mid in ids:
            r = rows.get(mid)
            if r is None:
                raise NotFoundError(f"No model {mid!r} in store {self.uri}; list them with `nifgraph models`.")
            if _null(r["run_id"]):
                raise no_run_error(mid)
            if _null(r["analysis_id"]):
                raise no_analysis_error(r["run_id"])
        flows = {
            f["model_id"]: f
            for f in self._named("queries/flow_concentration", model_ids=ids, top=flow_top).to_dict("records")
        }
        entries = self._named("queries/attribution_matrix", model_ids=ids)
        out = []
        for mid in ids:
            r = rows[mid]
            model = ModelRecord(
                model_id=mid, name=r["name"] or "", dataset=r["dataset"] or "",
                layer_sizes=tuple(int(s) for s in r["layer_sizes"] or ()), activations=tuple(r["activations"] or ()),
                feature_names=tuple(r["feature_names"] or ()), class_names=tuple(r["class_names"] or ()),
                test_accuracy=_num(r["test_accuracy"]),
            )
            flow = flows.get(mid)
            mine = entries[entries["model_id"] == mid] if len(entries) else entries
            seen = {r["run_id"]} | ({flow["run_id"]} if flow else set()) | set(mine["run_id"] if len(mine) else ())
            if flow is None or len(seen) != 1:
                raise StoreError(f"Model {mid} changed while it was being read (a run finished); run the comparison again.")
            attr = np.zeros((model.layer_sizes[0], model.layer_sizes[-1]))
            if len(mine):
                vals = pd.to_numeric(mine["value"], errors="coerce").astype("float64").to_numpy()
                attr[mine["feature_idx"].to_numpy(dtype=np.int64), mine["class_idx"].to_numpy(dtype=np.int64)] = vals
            out.append(SummaryInputs(
                model, r["run_id"], r["estimator"] or "", _int(r["n_prunable"]), _int(r["n_communities"]),
                _num(r["modularity"]), _num(flow["flow_concentration"]), attr,
            ))
        return out

    def _named(self, name: str, **params: Any) -> pd.DataFrame:
        """Rows of the named query ``name`` (``queries/…``), read-only, with exactly ``params``
        (model ids as stored: not resolved again)."""
        return self._read_named(cypher.named(name.removeprefix("queries/")), params)


class Neo4jRunWriter(RunWriter):
    """A run written in slices into a :class:`Neo4jStore`: the hidden ``Run {status: 'writing'}``
    (and, with ``model_parts``, the model pending on it) is created when the first slice arrives,
    each slice goes out at once in columnar batches of at most ``batch_size`` edges (one
    transaction each), and ``store/complete_run`` makes the run and the model visible in one
    transaction at the commit. A failure deletes both (``repair()`` does it for a killed process)."""

    store: Neo4jStore

    def __init__(self, store: Neo4jStore, run: RunRecord, model_parts: ModelParts | None) -> None:
        super().__init__(store, run, model_parts)
        self._begun = False
        self._model_written = False
        self._seq = 0  # the next NIFColumns node's number
        self._written = 0

    def _begin(self) -> None:
        """Write the pending model (if given) and the hidden run; drop what an earlier write of
        this run left."""
        st, run = self.store, self.run
        if self.model_parts is not None:
            self._model_written = True  # from here on a failure purges it (if it is still hidden)
            st._put_model(*self.model_parts, pending=run.run_id)
        self._begun = True
        begun = st._write(
            "store/begin_run", run=run_props(run), seq=time.time_ns(), now_ms=now_ms(), edge_layout=EDGE_LAYOUT
        )
        if st._schema_version is None:  # a database new to nifgraph: record the schema once
            st._schema_version = st._record_schema()
        if not (begun and begun[0].get("fresh")):
            # a replaced (or interrupted) run: drop its old edges, columns and analyses (of the
            # old edges; begin_run unlinked them) while it is hidden, as the embedded store does
            st._empty_run(run.run_id)

    def _write(self, frame: pd.DataFrame) -> None:
        if not self._begun:
            self._begin()
        st, run, mid = self.store, self.run, self.model.model_id
        n_batches = 0
        for batch in edge_batches(mid, frame, st.batch_size):
            got = st._write(
                "store/put_edges", run_id=run.run_id, seq=self._seq + batch["seq"], ids=batch["ids"],
                src=batch["src"], dst=batch["dst"], cols=batch["cols"], block=batch["block"],
            )
            written = int(got[0]["written"]) if got else 0
            if written != len(batch["src"]):
                state = st.query("store/write_target_state", model_id=mid, run_id=run.run_id)
                gone = not state or not all(int(state[0][k]) for k in ("models", "neurons", "runs"))
                if gone:
                    raise StoreError(
                        f"Run {run.run_id}: model {mid} or this run was deleted while the run was being written "
                        "(`nifgraph db repair` or `nifgraph delete` in another process); nothing of the run is "
                        "visible: run the job again, and run `db repair` only when no other job writes (docs/neo4j.md)."
                    )
                raise ValidationError(
                    f"Run {run.run_id}: edges name neurons that model {mid} does not have; "
                    f"check layer sizes {list(self.model.layer_sizes)}."
                )
            n_batches += 1
            self._written += written
            st._after_batch("edges", self._written)
        self._seq += n_batches

    def _commit(self) -> None:
        if not self._begun:  # a run without edges
            self._begin()
        self.store._write(
            "store/complete_run", run=run_props(self.run), run_id=self.run.run_id, n_edges=self.n_edges,
            significance=self.significance, now_ms=now_ms(),
        )

    def _discard(self) -> None:
        st = self.store
        try:
            if self._begun:
                st._purge_run(self.run.run_id)
            if self._model_written:
                mid = self.model.model_id
                if not st.query("store/get_model", model_id=mid):  # still hidden: ours
                    st._purge_model(mid)
        except Exception:  # pragma: no cover - server gone: `nifgraph db repair` cleans up
            pass


def _null(v: Any) -> bool:
    return v is None or (isinstance(v, float) and v != v)


def _num(v: Any) -> float:
    return float("nan") if _null(v) else float(v)


def _int(v: Any) -> int:
    return 0 if _null(v) else int(v)

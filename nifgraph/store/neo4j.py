"""The Neo4j store: the nifgraph property graph in a Neo4j server (5.26 LTS or 2025.x).

Data model (diagram in ``docs/neo4j.md``)::

    (:Model {model_id, …})-[:HAS_NEURON]->(:Neuron:Feature|Hidden|Class {neuron_id, model_id, layer, idx, …})
    (:Run {run_id, model_id, status, analysis_id, …})-[:OF_MODEL]->(:Model)
    (:Neuron)-[:NIF {run_id, value, value_norm, cost, relevance, redundancy, p_value, q_value, ci_low, ci_high}]->(:Neuron)
    (:Run)-[:HAS_ANALYSIS]->(:Analysis {analysis_id, run_id, status, …})
    (:Analysis)-[:HAS_RESULT]->(:NeuronResult {analysis_id, run_id, neuron_id, layer, idx, betweenness,
                                               community, in_flow, out_flow, prunable})-[:OF_NEURON]->(:Neuron)
    (:Neuron:Feature)-[:ATTRIBUTION {analysis_id, run_id, value}]->(:Neuron:Class)

Property names are the snake_case column names of :mod:`nifgraph.records`; dicts (``meta``,
``settings``) are JSON strings; NaN is stored as a missing property and read back as NaN.

How writes stay all-or-nothing
------------------------------
* ``put_model`` is one transaction.
* ``put_run`` creates the ``Run`` with ``status = 'writing'``, writes edges in batches of
  ``batch_size`` (one managed transaction each, ``UNWIND … MERGE``), then sets
  ``status = 'complete'`` last. Every read filters ``status = 'complete'``. If a batch fails the
  run is deleted again; if the process dies, ``repair()`` deletes it later. Re-putting a run
  first hides it (an interrupted *replacement* therefore leaves the run absent, never mixed).
* ``put_analysis`` writes the new analysis under a fresh ``analysis_id``; one transaction then
  marks it complete and points ``Run.analysis_id`` at it; only after that is the previous one
  deleted. Reads follow the pointer, so an interrupted write leaves the previous analysis intact.

All Cypher lives in ``cypher/store`` and ``cypher/admin`` (see :mod:`nifgraph.cypher`).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from .. import cypher
from ..errors import NotFoundError, StoreError, StoreUnavailableError, ValidationError
from ..records import (
    ATTRIBUTION_COLUMNS,
    EDGE_COLUMNS,
    NEURON_COLUMNS,
    NEURON_METRIC_COLUMNS,
    AnalysisRecord,
    ModelRecord,
    RunRecord,
    conform,
    neuron_key,
    new_id,
)
from .base import Store

__all__ = ["Neo4jStore", "DriverRunner"]

_EDGE_PROPS = [c for c in EDGE_COLUMNS if c not in ("run_id", "src_layer", "src_idx", "dst_layer", "dst_idx")]
_NEURON_PROPS = [c for c in NEURON_COLUMNS if c != "model_id"]
_METRIC_PROPS = [c for c in NEURON_METRIC_COLUMNS]

#: Fix printed when the server cannot be reached.
START_HINT = "start it with `docker compose up -d` (see docs/neo4j.md) or check the URI"


# -- value conversion at the boundary ---------------------------------------------------
def _py(v: Any) -> Any:
    """A driver-friendly Python value: numpy scalars unboxed, NaN / NA -> None."""
    if v is None:
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    if v is pd.NA or v is pd.NaT:
        return None
    return v


def _nan(v: Any) -> float:
    return float("nan") if v is None else float(v)


def _rows(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    cols = {c: frame[c].to_numpy(dtype=object) for c in columns}
    n = len(frame)
    return [{c: _py(cols[c][i]) for c in columns} for i in range(n)]


def _batches(rows: list[Any], size: int) -> Iterator[list[Any]]:
    size = max(int(size), 1)
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _now_ms() -> int:
    return int(time.time() * 1000)


def _bind(name: str, params: dict[str, Any]) -> cypher.CypherQuery:
    """The query ``name``, after checking that ``params`` are exactly the ones it declares."""
    q = cypher.load(name)
    if set(params) != set(q.params):
        raise RuntimeError(
            f"Cypher query {name!r} takes parameters {list(q.params)}, called with {sorted(params)}"
        )
    return q


def _q(run: Callable[..., Any], name: str, **params: Any) -> list[dict[str, Any]]:
    """Run the named query inside a transaction opened by :meth:`DriverRunner.write_tx`."""
    return run(_bind(name, params), params)


# -- the one I/O seam ------------------------------------------------------------------
class DriverRunner:
    """Runs named Cypher through the official ``neo4j`` driver (managed transactions).

    Every statement of the store goes through :meth:`read`, :meth:`write` or
    :meth:`write_tx`; tests substitute a recording fake with the same four methods.
    """

    def __init__(self, uri: str, user: str, password: str, database: str | None) -> None:
        self.uri = uri
        self.user = user
        self._password = password
        self.database = database
        self._driver: Any = None

    # lifecycle -------------------------------------------------------------------
    @property
    def driver(self) -> Any:
        """The connected driver (created and verified on first use)."""
        if self._driver is None:
            import neo4j

            _quiet_driver_log()
            auth = (self.user, self._password) if self._password else None
            with self.errors("connecting"):
                drv = neo4j.GraphDatabase.driver(
                    self.uri, auth=auth, connection_timeout=10.0, max_transaction_retry_time=15.0
                )
                try:
                    drv.verify_connectivity()
                except BaseException:
                    drv.close()
                    raise
            self._driver = drv
        return self._driver

    def close(self) -> None:
        if self._driver is not None:
            self._driver.close()
            self._driver = None

    def session(self, write: bool) -> Any:
        import neo4j

        mode = neo4j.WRITE_ACCESS if write else neo4j.READ_ACCESS
        return self.driver.session(database=self.database, default_access_mode=mode)

    @contextmanager
    def errors(self, action: str) -> Iterator[None]:
        """Translate driver errors into nifgraph errors with the fix in one line."""
        from neo4j import exceptions as nx

        try:
            yield
        except nx.AuthError as e:
            raise StoreUnavailableError(
                f"Neo4j at {self.uri} refused the credentials of user {self.user!r}; "
                "check NEO4J_USER / NEO4J_PASSWORD."
            ) from e
        except (nx.ServiceUnavailable, nx.SessionExpired) as e:
            raise StoreUnavailableError(
                f"Neo4j at {self.uri} is not reachable ({_first_line(e)}); {START_HINT}."
            ) from e
        except nx.ConfigurationError as e:
            raise StoreUnavailableError(
                f"Cannot use Neo4j URI {self.uri!r} ({_first_line(e)}); give neo4j://host:7687 "
                "or bolt://host:7687."
            ) from e
        except nx.Neo4jError as e:
            code = getattr(e, "code", "") or ""
            if "DatabaseNotFound" in code:
                raise StoreUnavailableError(
                    f"Neo4j at {self.uri} has no database {self.database!r}; check NEO4J_DATABASE."
                ) from e
            if "AccessMode" in code or "ForbiddenOnReadOnlyDatabase" in code:
                raise ValidationError(
                    f"The query writes but ran read-only; rerun with --write ({_first_line(e)})."
                ) from e
            raise StoreError(f"Neo4j failed while {action}: {_first_line(e)}") from e
        except nx.DriverError as e:
            raise StoreError(f"Neo4j driver failed while {action}: {_first_line(e)}") from e
        except OSError as e:
            raise StoreUnavailableError(
                f"Neo4j at {self.uri} is not reachable ({e}); {START_HINT}."
            ) from e

    # statements ------------------------------------------------------------------
    def read(self, query: cypher.CypherQuery, params: dict[str, Any]) -> list[dict[str, Any]]:
        def work(tx: Any) -> list[dict[str, Any]]:
            return tx.run(query.text, params).data()

        with self.errors(f"running {query.name}"), self.session(write=False) as s:
            return s.execute_read(work)

    def write(self, query: cypher.CypherQuery, params: dict[str, Any]) -> list[dict[str, Any]]:
        def work(tx: Any) -> list[dict[str, Any]]:
            return tx.run(query.text, params).data()

        with self.errors(f"running {query.name}"), self.session(write=True) as s:
            return s.execute_write(work)

    def write_tx(self, fn: Callable[[Callable[..., list[dict[str, Any]]]], Any]) -> Any:
        """Run ``fn(q)`` in one write transaction; ``q(query, params)`` runs a statement in it."""

        def work(tx: Any) -> Any:
            return fn(lambda query, params: tx.run(query.text, params).data())

        with self.errors("writing"), self.session(write=True) as s:
            return s.execute_write(work)

    def adhoc(self, text: str, params: dict[str, Any], write: bool) -> tuple[list[str], list[list[Any]]]:
        """Run user-supplied Cypher; refuse (and roll back) anything but a read unless ``write``.

        Reads run in a managed read transaction (READ access mode, rolled back when the
        summary says the query is not a pure read). Writes run as an auto-commit
        transaction (``session.run``): the only kind in which Neo4j accepts
        ``CALL { … } IN TRANSACTIONS``, which bulk ad-hoc writes need; they are not retried."""

        def collect(res: Any) -> tuple[list[str], list[list[Any]], Any]:
            keys = list(res.keys())
            rows = [[_plain(v) for v in rec.values()] for rec in res]
            return keys, rows, res.consume()

        def work(tx: Any) -> tuple[list[str], list[list[Any]]]:
            keys, rows, summary = collect(tx.run(text, params))
            kind = getattr(summary, "query_type", None)
            if kind not in (None, "r"):
                # raising inside the managed transaction rolls it back
                raise ValidationError(
                    f"The query is not read-only (query type {kind!r}); rerun with --write."
                )
            return keys, rows

        with self.errors("running ad-hoc Cypher"), self.session(write=write) as s:
            if write:
                keys, rows, _ = collect(s.run(text, params))
                return keys, rows
            return s.execute_read(work)


def _first_line(e: BaseException) -> str:
    """The error message on one line (the driver's messages span several)."""
    msg = getattr(e, "message", None) or str(e) or type(e).__name__
    return " ".join(part.strip() for part in str(msg).splitlines() if part.strip())[:300]


def _quiet_driver_log() -> None:
    """Keep the driver's own warnings (printed by logging's last-resort handler) off the
    terminal: nifgraph reports the error once, with the fix."""
    import logging

    log = logging.getLogger("neo4j")
    if not log.handlers:
        log.addHandler(logging.NullHandler())


def _plain(v: Any) -> Any:
    """Graph values of ad-hoc results as plain dicts (nodes and relationships: their properties)."""
    from neo4j.graph import Node, Path, Relationship

    if isinstance(v, Node):
        return {"_labels": sorted(v.labels), **dict(v)}
    if isinstance(v, Relationship):
        return {"_type": v.type, **dict(v)}
    if isinstance(v, Path):
        return [_plain(n) for n in v.nodes]
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


# -- the store -------------------------------------------------------------------------
class Neo4jStore(Store):
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
    batch_size = 5000

    def __init__(self, uri: str, user: str = "neo4j", password: str = "", database: str | None = None) -> None:
        self.uri = uri
        self.user = user
        self.database = database or None
        self._runner: Any = DriverRunner(uri, user, password, self.database)

    @classmethod
    def from_env(cls, uri: str) -> Neo4jStore:
        """A store for ``uri`` with credentials from ``NEO4J_USER`` (default ``neo4j``),
        ``NEO4J_PASSWORD`` and ``NEO4J_DATABASE``."""
        return cls(
            uri,
            os.environ.get("NEO4J_USER", "neo4j"),
            os.environ.get("NEO4J_PASSWORD", ""),
            os.environ.get("NEO4J_DATABASE") or None,
        )

    @property
    def driver(self) -> Any:
        """The verified ``neo4j.Driver`` (for the GDS client)."""
        return self._runner.driver

    def close(self) -> None:
        self._runner.close()

    def __repr__(self) -> str:
        return f"Neo4jStore({self.uri!r}, user={self.user!r}, database={self.database!r})"

    # -- statement helpers (every call names a cypher file and passes exactly its params)
    def _read(self, name: str, **params: Any) -> list[dict[str, Any]]:
        return self._runner.read(_bind(name, params), params)

    def _write(self, name: str, **params: Any) -> list[dict[str, Any]]:
        return self._runner.write(_bind(name, params), params)

    def _drain(self, name: str, **params: Any) -> int:
        """Repeat a ``… LIMIT $limit DELETE … RETURN count(*) AS deleted`` query until it deletes nothing."""
        total = 0
        while True:
            n = int(self._write(name, **params)[0]["deleted"])
            total += n
            if n < params["limit"]:
                return total

    # -- schema and administration ----------------------------------------------------
    def init_schema(self) -> list[str]:
        """Create the constraints and indexes (idempotent) and wait until they are online.

        Returns the names of the constraints and indexes nifgraph expects."""
        for name in ("schema/constraints", "schema/indexes"):
            q = _bind(name, {})
            for statement in q.statements:
                self._runner.write(_Statement(q.name, statement), {})
        self._write("schema/await_indexes", timeout_s=300)
        return expected_schema()

    def status(self) -> dict[str, Any]:
        """Server version and edition, GDS version (``None`` without GDS), schema state, counts."""
        comps = self._read("admin/components")
        kernel = next((c for c in comps if str(c.get("name", "")).lower().startswith("neo4j")), comps[0] if comps else {})
        gds_version, gds_error = self.gds_version()
        want = expected_schema()
        schema_error = None
        try:
            constraints = {r["name"] for r in self._read("admin/show_constraints")}
            indexes = {r["name"]: r["state"] for r in self._read("admin/show_indexes")}
        except StoreUnavailableError:
            raise
        except StoreError as e:  # e.g. a user without the SHOW privilege
            constraints, indexes, schema_error = set(), {}, str(e)
        missing = [n for n in want if n not in constraints and n not in indexes]
        not_online = [n for n in want if n in indexes and str(indexes[n]).upper() != "ONLINE" and n not in constraints]
        counts = self._read("admin/counts")[0]
        return {
            "uri": self.uri,
            "database": self.database or "(default)",
            "server_version": kernel.get("version"),
            "edition": kernel.get("edition"),
            "gds_version": gds_version,
            "gds_error": gds_error,
            "schema": {
                "ready": not missing and not not_online,
                "missing": missing,
                "not_online": not_online,
                "expected": want,
                "error": schema_error,
            },
            "models": int(counts["models"]),
            "runs": int(counts["runs"]),
            "incomplete_runs": int(counts["incomplete_runs"]),
        }

    def gds_version(self) -> tuple[str | None, str | None]:
        """``(version, None)`` when Graph Data Science is installed, else ``(None, reason)``."""
        try:
            rows = self._read("admin/gds_version")
        except StoreUnavailableError:
            raise
        except StoreError as e:
            return None, str(e)
        return (str(rows[0]["version"]) if rows else None), None

    def repair(self, min_age_s: float = 0.0) -> int:
        """Delete leftovers of interrupted writes: runs not complete and analyses that are not
        the current one of their run, older than ``min_age_s`` seconds. Returns how many
        runs and analyses were removed. Run it when no other process is writing."""
        before = _now_ms() - int(min_age_s * 1000)
        runs = [r["run_id"] for r in self._read("admin/incomplete_runs", before_ms=before)]
        for run_id in runs:
            self._purge_run(run_id)
        analyses = [r["analysis_id"] for r in self._read("admin/stale_analyses", before_ms=before)]
        for aid in analyses:
            self._purge_analysis(aid)
        return len(runs) + len(analyses)

    def run_cypher(self, query: str, params: dict[str, Any] | None = None, write: bool = False) -> pd.DataFrame:
        """Run ad-hoc Cypher and return the rows as a DataFrame.

        Read-only unless ``write``: the session uses READ access mode and a query whose
        summary is not a pure read is rolled back with a :class:`ValidationError`."""
        keys, rows = self._runner.adhoc(query, dict(params or {}), write)
        return pd.DataFrame(rows, columns=keys)

    def run_named(self, name: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Run a named query from ``cypher/queries`` (read-only) with checked parameters."""
        q = cypher.named(name)
        params = dict(params or {})
        missing = [p for p in q.params if p not in params]
        extra = [p for p in params if p not in q.params]
        if missing or extra:
            raise ValidationError(
                f"Query {q.short_name!r} takes parameters {', '.join(q.params) or 'none'}; "
                f"missing {missing or 'none'}, unknown {extra or 'none'}. "
                f"Pass them with --param name=value."
            )
        rows = self._runner.read(q, params)
        keys = list(rows[0].keys()) if rows else []
        return pd.DataFrame(rows, columns=keys or None)

    # -- models ----------------------------------------------------------------------
    def put_model(self, model: ModelRecord, neurons: pd.DataFrame) -> None:
        mid = model.model_id
        frame = conform(neurons.assign(model_id=mid), NEURON_COLUMNS)
        rows = [
            {"neuron_id": neuron_key(mid, r["layer"], r["idx"]), "props": {"model_id": mid, **r}}
            for r in _rows(frame, _NEURON_PROPS)
        ]
        props = _model_props(model)
        seq = time.time_ns()

        def work(run: Callable[..., Any]) -> None:
            _q(run, "store/put_model", model=props, seq=seq)
            _q(run, "store/prune_neurons", model_id=mid, neuron_ids=[r["neuron_id"] for r in rows])
            done = 0
            for batch in _batches(rows, self.batch_size):
                _q(run, "store/put_neurons", model_id=mid, rows=batch)
                done += len(batch)
                self._after_batch("neurons", done)

        self._runner.write_tx(work)

    def get_model(self, model_id: str) -> ModelRecord:
        rows = self._read("store/get_model", model_id=model_id)
        if not rows:
            raise NotFoundError(
                f"No model {model_id!r} in store {self.uri}; list them with `nifgraph models`."
            )
        return _model_from(rows[0]["model"])

    def list_models(self) -> list[ModelRecord]:
        return [_model_from(r["model"]) for r in self._read("store/list_models")]

    def get_neurons(self, model_id: str) -> pd.DataFrame:
        self.get_model(model_id)
        rows = self._read("store/get_neurons", model_id=model_id)
        frame = pd.DataFrame(rows, columns=list(NEURON_COLUMNS))
        return conform(frame, NEURON_COLUMNS)

    def delete_model(self, model_id: str) -> None:
        self.get_model(model_id)
        runs = [r["run_id"] for r in self._write("store/hide_runs_of_model", model_id=model_id)]
        for run_id in runs:
            self._purge_run(run_id)
        self._drain("store/delete_neurons", model_id=model_id, limit=self.batch_size)
        self._write("store/delete_model_node", model_id=model_id)

    # -- runs ------------------------------------------------------------------------
    def put_run(self, run: RunRecord, edges: pd.DataFrame) -> None:
        model = self.get_model(run.model_id)
        frame = conform(edges.assign(run_id=run.run_id), EDGE_COLUMNS)
        bad = frame["dst_layer"] != frame["src_layer"] + 1
        if bad.any():
            raise ValidationError(
                f"Run {run.run_id}: {int(bad.sum())} edges do not go from layer l to layer l + 1; "
                "NIF edges join consecutive layers only."
            )
        mid = model.model_id
        rows = [
            {
                "src": neuron_key(mid, sl, si),
                "dst": neuron_key(mid, dl, di),
                "props": dict(zip(_EDGE_PROPS, vals, strict=True)),
            }
            for sl, si, dl, di, *vals in zip(
                frame["src_layer"].tolist(),
                frame["src_idx"].tolist(),
                frame["dst_layer"].tolist(),
                frame["dst_idx"].tolist(),
                *[[_py(v) for v in frame[c].tolist()] for c in _EDGE_PROPS],
                strict=True,
            )
        ]
        self._write("store/begin_run", run=_run_props(run), seq=time.time_ns(), now_ms=_now_ms())
        try:
            # a replaced run: drop its old edges while it is hidden
            self._drain("store/delete_run_edges", run_id=run.run_id, limit=self.batch_size)
            done = 0
            for batch in _batches(rows, self.batch_size):
                got = self._write("store/put_edges", run_id=run.run_id, rows=batch)
                written = int(got[0]["written"]) if got else 0
                if written != len(batch):
                    raise ValidationError(
                        f"Run {run.run_id}: {len(batch) - written} edges name neurons that model "
                        f"{mid} does not have; check layer sizes {list(model.layer_sizes)}."
                    )
                done += len(batch)
                self._after_batch("edges", done)
            self._write("store/complete_run", run_id=run.run_id, n_edges=len(rows), now_ms=_now_ms())
        except BaseException:
            try:
                self._purge_run(run.run_id)
            except Exception:  # pragma: no cover - server gone: `nifgraph db repair` cleans up
                pass
            raise

    def get_run(self, run_id: str) -> RunRecord:
        rows = self._read("store/get_run", run_id=run_id)
        if not rows:
            raise NotFoundError(
                f"No complete run {run_id!r} in store {self.uri}; list runs with `nifgraph models`."
            )
        return _run_from(rows[0]["run"])

    def list_runs(self, model_id: str | None = None) -> list[RunRecord]:
        return [_run_from(r["run"]) for r in self._read("store/list_runs", model_id=model_id)]

    def get_edges(self, run_id: str) -> pd.DataFrame:
        self.get_run(run_id)
        rows = self._read("store/get_edges", run_id=run_id)
        frame = pd.DataFrame(rows, columns=[c for c in EDGE_COLUMNS if c != "run_id"])
        frame.insert(0, "run_id", run_id)
        for c in _EDGE_PROPS:
            frame[c] = pd.to_numeric(frame[c], errors="coerce").astype("float64")
        return conform(frame, EDGE_COLUMNS)

    def _purge_run(self, run_id: str) -> None:
        """Delete a run with its edges and analyses, in batches."""
        self._drain("store/delete_run_edges", run_id=run_id, limit=self.batch_size)
        for r in self._read("store/analyses_of_run", run_id=run_id):
            self._purge_analysis(r["analysis_id"])
        self._write("store/delete_run_node", run_id=run_id)

    # -- analyses --------------------------------------------------------------------
    def put_analysis(self, analysis: AnalysisRecord) -> None:
        run = self.get_run(analysis.run_id)
        mid = run.model_id
        aid = new_id("a")
        metrics = conform(analysis.neuron_metrics, NEURON_METRIC_COLUMNS)
        metric_rows = [
            {"neuron_id": neuron_key(mid, r["layer"], r["idx"]), "props": r}
            for r in _rows(metrics, _METRIC_PROPS)
        ]
        model = self.get_model(mid)
        last = model.n_layers - 1
        attr = conform(analysis.attribution, ATTRIBUTION_COLUMNS)
        attr_rows = [
            {"src": neuron_key(mid, 0, r["feature_idx"]), "dst": neuron_key(mid, last, r["class_idx"]), "value": r["value"]}
            for r in _rows(attr, list(ATTRIBUTION_COLUMNS))
        ]
        self._write("store/begin_analysis", analysis=_analysis_props(analysis, aid), now_ms=_now_ms())
        try:
            done = 0
            for batch in _batches(metric_rows, self.batch_size):
                self._write("store/put_neuron_results", analysis_id=aid, run_id=run.run_id, rows=batch)
                done += len(batch)
                self._after_batch("neuron_metrics", done)
            done = 0
            for batch in _batches(attr_rows, self.batch_size):
                self._write("store/put_attribution", analysis_id=aid, run_id=run.run_id, rows=batch)
                done += len(batch)
                self._after_batch("attribution", done)
            self._write("store/publish_analysis", run_id=run.run_id, analysis_id=aid, now_ms=_now_ms())
        except BaseException:
            try:
                self._purge_analysis(aid)
            except Exception:  # pragma: no cover - server gone: `nifgraph db repair` cleans up
                pass
            raise
        # the new analysis is current; the old ones are garbage now (repair finishes the job
        # if this is interrupted)
        for r in self._read("store/analyses_of_run", run_id=run.run_id):
            if r["analysis_id"] != aid:
                try:
                    self._purge_analysis(r["analysis_id"])
                except StoreError:  # pragma: no cover
                    pass

    def get_analysis(self, run_id: str) -> AnalysisRecord | None:
        self.get_run(run_id)
        rows = self._read("store/get_analysis", run_id=run_id)
        if not rows:
            return None
        props = rows[0]["analysis"]
        aid = props["analysis_id"]
        m = pd.DataFrame(self._read("store/get_neuron_results", analysis_id=aid), columns=list(NEURON_METRIC_COLUMNS))
        a = pd.DataFrame(self._read("store/get_attribution", analysis_id=aid), columns=list(ATTRIBUTION_COLUMNS))
        for c in ("betweenness", "in_flow", "out_flow"):
            m[c] = pd.to_numeric(m[c], errors="coerce").astype("float64")
        a["value"] = pd.to_numeric(a["value"], errors="coerce").astype("float64")
        return AnalysisRecord(
            run_id=props["run_id"],
            engine=props.get("engine", ""),
            gamma=_nan(props.get("gamma")),
            threshold=_nan(props.get("threshold")),
            modularity=_nan(props.get("modularity")),
            n_communities=int(props.get("n_communities") or 0),
            accuracy_before=_nan(props.get("accuracy_before")),
            accuracy_after=_nan(props.get("accuracy_after")),
            neuron_metrics=conform(m, NEURON_METRIC_COLUMNS),
            attribution=conform(a, ATTRIBUTION_COLUMNS),
            settings=json.loads(props.get("settings") or "{}"),
            created_at=props.get("created_at", ""),
        )

    def _purge_analysis(self, analysis_id: str) -> None:
        self._drain("store/delete_neuron_results", analysis_id=analysis_id, limit=self.batch_size)
        self._drain("store/delete_attribution", analysis_id=analysis_id, limit=self.batch_size)
        self._write("store/delete_analysis_node", analysis_id=analysis_id)


class _Statement:
    """One statement of a multi-statement schema file, shaped like a CypherQuery for the runner."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.text = text


def expected_schema() -> list[str]:
    """Names of the constraints and indexes declared in ``cypher/schema``."""
    import re

    names: list[str] = []
    for name in ("schema/constraints", "schema/indexes"):
        for statement in cypher.load(name).statements:
            m = re.match(r"CREATE\s+(?:CONSTRAINT|INDEX)\s+(\w+)", statement)
            if m:
                names.append(m.group(1))
    return names


# -- records <-> properties ------------------------------------------------------------
def _json(d: dict[str, Any]) -> str:
    return json.dumps(d, sort_keys=True, default=str, allow_nan=False) if d else "{}"


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_nan_to_none(v) for v in obj]
    return obj


def _safe_json(d: dict[str, Any]) -> str:
    try:
        return _json(d)
    except ValueError:  # NaN inside: stored as null
        return json.dumps(_nan_to_none(d), sort_keys=True, default=str)


def _model_props(m: ModelRecord) -> dict[str, Any]:
    return {
        "model_id": m.model_id,
        "name": m.name,
        "dataset": m.dataset,
        "layer_sizes": [int(s) for s in m.layer_sizes],
        "activations": [str(a) for a in m.activations],
        "feature_names": [str(f) for f in m.feature_names],
        "class_names": [str(c) for c in m.class_names],
        "test_accuracy": _py(float(m.test_accuracy)),
        "train_accuracy": _py(float(m.train_accuracy)),
        "meta": _safe_json(m.meta),
        "created_at": m.created_at,
        "architecture": m.architecture,
        "n_layers": m.n_layers,
    }


def _model_from(p: dict[str, Any]) -> ModelRecord:
    return ModelRecord(
        model_id=p["model_id"],
        name=p.get("name", ""),
        dataset=p.get("dataset", ""),
        layer_sizes=tuple(int(s) for s in p.get("layer_sizes") or ()),
        activations=tuple(p.get("activations") or ()),
        feature_names=tuple(p.get("feature_names") or ()),
        class_names=tuple(p.get("class_names") or ()),
        test_accuracy=_nan(p.get("test_accuracy")),
        train_accuracy=_nan(p.get("train_accuracy")),
        meta=json.loads(p.get("meta") or "{}"),
        created_at=p.get("created_at", ""),
    )


def _run_props(r: RunRecord) -> dict[str, Any]:
    return {
        "run_id": r.run_id,
        "model_id": r.model_id,
        "estimator": r.estimator,
        "seed": int(r.seed),
        "split": r.split,
        "n_samples": int(r.n_samples),
        "beta": _py(float(r.beta)),
        "variant": r.variant,
        "settings": _safe_json(r.settings),
        "elapsed_s": _py(float(r.elapsed_s)),
        "created_at": r.created_at,
    }


def _run_from(p: dict[str, Any]) -> RunRecord:
    return RunRecord(
        run_id=p["run_id"],
        model_id=p["model_id"],
        estimator=p.get("estimator", ""),
        seed=int(p.get("seed") or 0),
        split=p.get("split", "test"),
        n_samples=int(p.get("n_samples") or 0),
        beta=_nan(p.get("beta")),
        variant=p.get("variant", "pairwise"),
        settings=json.loads(p.get("settings") or "{}"),
        elapsed_s=_nan(p.get("elapsed_s")),
        created_at=p.get("created_at", ""),
    )


def _analysis_props(a: AnalysisRecord, analysis_id: str) -> dict[str, Any]:
    return {
        "analysis_id": analysis_id,
        "run_id": a.run_id,
        "engine": a.engine,
        "gamma": _py(float(a.gamma)),
        "threshold": _py(float(a.threshold)),
        "modularity": _py(float(a.modularity)),
        "n_communities": int(a.n_communities),
        "accuracy_before": _py(float(a.accuracy_before)),
        "accuracy_after": _py(float(a.accuracy_after)),
        "settings": _safe_json(a.settings),
        "created_at": a.created_at,
    }

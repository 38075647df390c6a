"""Administration of the Neo4j store: schema (constraints and indexes), server status, Graph
Data Science detection, repair of interrupted writes, ad-hoc and named Cypher. A mixin of
:class:`~nifgraph.store.neo4j.Neo4jStore`; every statement is a file under ``cypher/``."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from .. import cypher
from ..errors import StoreError, StoreUnavailableError, ValidationError
from .neo4j_layout import SCHEMA_VERSION
from .neo4j_records import now_ms
from .neo4j_runner import Statement, bind

__all__ = ["Neo4jAdmin", "expected_schema", "min_server_version", "unsupported_server"]


class Neo4jAdmin:
    """Schema, status and query methods of the Neo4j store (needs ``runner``, ``uri``,
    ``database``, ``query``, ``_write``, ``_purge_run``, ``_purge_analysis`` and ``_purge_model``
    of the store)."""

    runner: Any
    uri: str
    database: str | None
    _schema_version: int | None

    # -- schema and administration ----------------------------------------------------
    def init_schema(self) -> list[str]:
        """Create the constraints and indexes (idempotent) and wait until they are online.

        Returns the names of the constraints and indexes nifgraph expects. Also migrates data
        written by an older nifgraph (see :mod:`.neo4j_layout`)."""
        self.create_schema()
        self._write("schema/await_indexes", timeout_s=300)
        if self._schema_version is None:
            self._schema_version = self._record_schema()
        return expected_schema()

    def _record_schema(self) -> int:
        """Record this nifgraph's schema version on the database (never lowers it); returns the
        version recorded there."""
        rows = self._write("store/set_schema_version", version=SCHEMA_VERSION)
        return int(rows[0]["version"]) if rows else SCHEMA_VERSION

    def create_schema(self) -> None:
        """Create the constraints and indexes of ``cypher/schema`` (idempotent; does not wait)."""
        for name in ("schema/constraints", "schema/indexes"):
            q = bind(name, {})
            for statement in q.statements:
                self.runner.write(Statement(q.name, statement), {})

    def status(self) -> dict[str, Any]:
        """Server version and edition, GDS version (``None`` without GDS), schema state, counts,
        memory settings."""
        comps = self.query("admin/components")
        kernel = next((c for c in comps if str(c.get("name", "")).lower().startswith("neo4j")), comps[0] if comps else {})
        gds_version, gds_error = self.gds_version()
        want = expected_schema()
        schema_error = None
        try:
            constraints = {r["name"] for r in self.query("admin/show_constraints")}
            indexes = {r["name"]: r["state"] for r in self.query("admin/show_indexes")}
        except StoreUnavailableError:
            raise
        except StoreError as e:  # e.g. a user without the SHOW privilege
            constraints, indexes, schema_error = set(), {}, str(e)
        missing = [n for n in want if n not in constraints and n not in indexes]
        not_online = [n for n in want if n in indexes and str(indexes[n]).upper() != "ONLINE" and n not in constraints]
        counts = self.query("admin/counts")[0]
        return {
            "uri": self.uri,
            "database": self.database or "(default)",
            "server_version": kernel.get("version"),
            "edition": kernel.get("edition"),
            "gds_version": gds_version,
            "gds_error": gds_error,
            "gds_min_version": min_server_version(),
            "gds_problem": unsupported_server(gds_version),
            "schema": {
                "version": self._schema_version,
                "ready": not missing and not not_online,
                "missing": missing,
                "not_online": not_online,
                "expected": want,
                "error": schema_error,
            },
            "models": int(counts["models"]),
            "runs": int(counts["runs"]),
            "incomplete_runs": int(counts["incomplete_runs"]),
            "pending_models": int(counts.get("pending_models") or 0),
            "deleting_models": int(counts.get("deleting_models") or 0),
            "settings": self.server_settings(),
        }

    def server_settings(self) -> dict[str, str]:
        """The server's memory settings (heap, page cache, transaction memory); empty when the
        user may not read settings."""
        try:
            return {str(r["name"]): str(r["value"]) for r in self.query("admin/server_settings")}
        except StoreUnavailableError:
            raise
        except StoreError:
            return {}

    def gds_version(self) -> tuple[str | None, str | None]:
        """``(version, None)`` when Graph Data Science is installed, else ``(None, reason)``."""
        try:
            rows = self.query("admin/gds_version")
        except StoreUnavailableError:
            raise
        except StoreError as e:
            return None, str(e)
        return (str(rows[0]["version"]) if rows else None), None

    def leftovers(self, min_age_s: float = 0.0) -> dict[str, list[str]]:
        """What :meth:`repair` would delete, by kind: ``models`` (still hidden because the first
        run they wait for never completed: a main job killed half-way, see
        ``put_model_with_run``, or a deletion that was interrupted), ``runs`` (not complete) and
        ``analyses`` (not the current one of their run), each older than ``min_age_s`` seconds."""
        before = now_ms() - int(min_age_s * 1000)
        return {
            "models": [r["model_id"] for r in self.query("admin/pending_models", before_ms=before)],
            "runs": self._incomplete_runs(before),
            "analyses": [r["analysis_id"] for r in self.query("admin/stale_analyses", before_ms=before)],
        }

    def _incomplete_runs(self, before_ms: int) -> list[str]:
        return [r["run_id"] for r in self.query("admin/incomplete_runs", before_ms=before_ms)]

    def repair(self, min_age_s: float = 0.0, found: dict[str, list[str]] | None = None) -> int:
        """Delete the :meth:`leftovers` of interrupted writes older than ``min_age_s`` seconds
        (``found``: those already listed), a model with its neurons, checkpoint and runs, a run
        with its edges, columns and analyses. Returns how many models, runs and analyses were
        removed. Run it when no other process is writing, or give a ``min_age_s`` longer than
        any write takes."""
        found = found if found is not None else self.leftovers(min_age_s)
        for model_id in found["models"]:
            self._purge_model(model_id)
        runs = found["runs"]
        if found["models"]:  # their runs went with them
            still = set(self._incomplete_runs(now_ms() - int(min_age_s * 1000)))
            runs = [r for r in runs if r in still]
        for run_id in runs:
            self._purge_run(run_id)
        for aid in found["analyses"]:
            self._purge_analysis(aid)
        return len(found["models"]) + len(runs) + len(found["analyses"])

    def run_cypher(self, query: str, params: dict[str, Any] | None = None, write: bool = False) -> pd.DataFrame:
        """Run ad-hoc Cypher and return the rows as a DataFrame.

        Read-only unless ``write``: the session uses READ access mode and a query whose
        summary is not a pure read is rolled back with a :class:`ValidationError`."""
        self._ready()
        keys, rows = self.runner.adhoc(query, dict(params or {}), write)
        return pd.DataFrame(rows, columns=keys)

    def run_named(self, name: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Run a named query from ``cypher/queries`` (read-only) with checked parameters: each
        of the declared type and range (:func:`cypher.check_value`); a model parameter
        (``model_id``, ``model_a``, ``model_b``, each of ``model_ids``) may name a model as every
        command does (an id, a run id, a unique prefix, a name, ``latest``) and is an error when
        it names none; ``feature_idx`` must be an input of that model."""
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
        params = {k: cypher.check_value(q, k, v) for k, v in params.items()}
        singles = [k for k in ("model_id", "model_a", "model_b") if k in params]
        many = list(params.get("model_ids", []))
        named_runs: dict[str, tuple[str, str]] = {}  # model id -> (the ref, the run it names)
        if singles or many:
            refs = [*(params[k] for k in singles), *many]
            models, runs = self.list_models(), self.list_runs()
            hits = [self._match(ref, models, runs) for ref in refs]
            for ref, (m, run) in zip(refs, hits, strict=True):
                if run is not None:
                    named_runs[m.model_id] = (str(ref).strip(), run.run_id)
            models = [m for m, _ in hits]
            for k, m in zip(singles, models, strict=False):
                params[k] = m.model_id
            if "model_ids" in params:
                params["model_ids"] = [m.model_id for m in models[len(singles):]]
            if "feature_idx" in params and "model_id" in params:
                n = models[0].layer_sizes[0]
                if params["feature_idx"] >= n:
                    raise ValidationError(
                        f"feature_idx {params['feature_idx']} is not an input of model {models[0].model_id}: "
                        f"it has {n} (0 to {n - 1}; see `nifgraph show {models[0].model_id}`)."
                    )
        frame = self._read_named(q, params)
        _check_read_runs(q.short_name, frame, named_runs)
        return frame

    def _read_named(self, q: Any, params: dict[str, Any]) -> pd.DataFrame:
        """Rows of the named query ``q`` with exactly ``params`` (already checked)."""
        self._ready()
        rows = self.runner.read(q, params)
        keys = list(rows[0].keys()) if rows else []
        return pd.DataFrame(rows, columns=keys or None)


def _check_read_runs(query: str, frame: pd.DataFrame, named: dict[str, tuple[str, str]]) -> None:
    """A named query reads each model's run by its own rule (newest complete, or newest
    analysed): a model parameter given as a run id must be the run it read, or the answer
    would silently be another run's. A query whose rows do not say their run takes model ids."""
    for mid, (ref, run_id) in named.items():
        fix = f"pass the model id {mid}, or read that run with `nifgraph show {run_id}`"
        if "run_id" not in frame.columns:
            if len(frame):
                raise ValidationError(f"{ref!r} is run {run_id}; query {query!r} reads a run of its own choosing "
                                      f"of each model and does not say which: {fix}.")
            continue
        rows = frame[frame["model_id"] == mid] if "model_id" in frame.columns else frame
        read = sorted({str(r) for r in rows["run_id"].dropna()})
        if read and read != [run_id]:
            raise ValidationError(f"{ref!r} is run {run_id} of model {mid}, but query {query!r} read run "
                                  f"{', '.join(read)} (its rule for which run of a model it reads): {fix}.")


def expected_schema() -> list[str]:
    """Names of the constraints and indexes declared in ``cypher/schema``."""
    names: list[str] = []
    for name in ("schema/constraints", "schema/indexes"):
        for statement in cypher.load(name).statements:
            m = re.match(r"CREATE\s+(?:CONSTRAINT|INDEX)\s+(\w+)", statement)
            if m:
                names.append(m.group(1))
    return names


def min_server_version() -> str:
    """The oldest GDS server version the installed ``graphdatascience`` client supports (the
    client's own ``__min_server_version__``; 2.13.0 for the 2.x clients)."""
    try:
        from graphdatascience.version import __min_server_version__
    except ImportError:  # pragma: no cover - every 2.x client has it
        return "2.13.0"
    return str(__min_server_version__)


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in str(version).split(".")[:3]:
        digits = "".join(ch for ch in piece.split("-")[0] if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts + [0] * (3 - len(parts)))


def unsupported_server(version: str | None) -> str | None:
    """``None`` when the server's GDS ``version`` is one the installed client supports, else
    the one-line problem and fix (the client would only warn, and then fail in odd places)."""
    if version is None:
        return None
    want = min_server_version()
    if _version_tuple(version) >= _version_tuple(want):
        return None
    import importlib.metadata as md

    client = md.version("graphdatascience")
    return (
        f"Graph Data Science {version} on the server is older than {want}, the oldest the "
        f"graphdatascience client {client} supports; upgrade the plugin (Neo4j 5.26 with GDS "
        f">= {want}, or a 2025.x image) or use --engine local."
    )

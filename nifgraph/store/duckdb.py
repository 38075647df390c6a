"""The embedded default store: one DuckDB file holding the NIF property graph as tables.

Tables (snake_case, the same fields as the Neo4j store's nodes and relationships):

``models`` (:Model), ``neurons`` (:Neuron, keyed by model_id, layer, idx), ``runs`` (:Run),
``edges`` (:NIF relationships, per run), ``analyses`` + ``neuron_metrics`` + ``attribution``
(analysis results per run), ``schema_info``.

Every ``put_*`` runs in one transaction that first deletes the rows of the same id and then
inserts the new ones batch by batch, so a write is idempotent and all-or-nothing: if it fails
half-way the transaction rolls back and readers see the store as it was.

A run streamed through :meth:`DuckDBStore.run_writer` does not hold the file while it is
estimated (other processes read and write it meanwhile): slices wait in memory up to
:attr:`DuckDBStore.stage_rows` edges, then go to Parquet files in a private staging folder
beside the store (``.<store file>.staging-<pid>-…``). The commit is one transaction that copies
the staged files and the slices in memory into ``edges``, writes the model (if given) and inserts
the run row last; the staging folder is removed after it, or after a failure. A process killed at
any point leaves the store file as it was (only a staging folder, which the next run writer of
that store removes once its process is gone).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from .. import records as rec
from ..errors import NotFoundError, StoreError, StoreUnavailableError, ValidationError
from ..records import (
    AnalysisRecord,
    ModelRecord,
    RunRecord,
    dumps,
    model_from_flat,
    nan_of,
    run_from_flat,
)
from .base import (
    EDGE_ORDER,
    ModelParts,
    RunWriter,
    Store,
    check_analysis,
    checked_neurons,
    cut,
    edge_pages,
)

__all__ = ["DuckDBStore", "DuckDBRunWriter", "SCHEMA_VERSION"]

SCHEMA_VERSION = 3
#: Seconds a command waits for another process's transaction on the same file.
DEFAULT_LOCK_TIMEOUT = 120.0


#: What DuckDB says of a file that is damaged (checksums, a cut-off file), not merely unwritable.
_DAMAGE_MARKERS = ("corrupt", "checksum", "could not read enough bytes", "not a valid duckdb database")


def _damaged(msg: str) -> bool:
    low = msg.lower()
    return any(m in low for m in _DAMAGE_MARKERS)


def _env_timeout() -> float:
    raw = os.environ.get("NIFGRAPH_LOCK_TIMEOUT", "")
    try:
        return max(float(raw), 0.0) if raw else DEFAULT_LOCK_TIMEOUT
    except ValueError:
        raise ValidationError(f"NIFGRAPH_LOCK_TIMEOUT={raw!r} is not a number of seconds; set e.g. 120.") from None

_SQL_TYPES = {"string": "VARCHAR", "int64": "BIGINT", "float64": "DOUBLE", "bool": "BOOLEAN"}


def _cols(columns: dict[str, str]) -> str:
    return ", ".join(f"{n} {_SQL_TYPES[t]}" for n, t in columns.items())


_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS schema_info (key VARCHAR, value VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS models (
        model_id VARCHAR, name VARCHAR, dataset VARCHAR, layer_sizes VARCHAR,
        activations VARCHAR, feature_names VARCHAR, class_names VARCHAR,
        test_accuracy DOUBLE, train_accuracy DOUBLE, meta VARCHAR, created_at VARCHAR)""",
    f"CREATE TABLE IF NOT EXISTS neurons ({_cols(rec.NEURON_COLUMNS)})",
    """CREATE TABLE IF NOT EXISTS runs (
        run_id VARCHAR, model_id VARCHAR, estimator VARCHAR, seed BIGINT, split VARCHAR,
        n_samples BIGINT, beta DOUBLE, variant VARCHAR, settings VARCHAR, elapsed_s DOUBLE,
        created_at VARCHAR, seq BIGINT)""",
    f"CREATE TABLE IF NOT EXISTS edges ({_cols(rec.EDGE_COLUMNS)})",
    """CREATE TABLE IF NOT EXISTS analyses (
        run_id VARCHAR, engine VARCHAR, gamma DOUBLE, threshold DOUBLE, modularity DOUBLE,
        n_communities BIGINT, accuracy_before DOUBLE, accuracy_after DOUBLE, settings VARCHAR,
        created_at VARCHAR)""",
    f"CREATE TABLE IF NOT EXISTS neuron_metrics (run_id VARCHAR, {_cols(rec.NEURON_METRIC_COLUMNS)})",
    f"CREATE TABLE IF NOT EXISTS attribution (run_id VARCHAR, {_cols(rec.ATTRIBUTION_COLUMNS)})",
    "CREATE SEQUENCE IF NOT EXISTS run_seq",
    # version 2: the pruning decision per neuron (stores of version 1 gain the columns)
    "ALTER TABLE neuron_metrics ADD COLUMN IF NOT EXISTS candidate BOOLEAN DEFAULT false",
    "ALTER TABLE neuron_metrics ADD COLUMN IF NOT EXISTS accuracy_drop DOUBLE",
    # version 3: checkpoints live inside the store, so a store file can be moved or copied
    "CREATE TABLE IF NOT EXISTS checkpoints (model_id VARCHAR, data BLOB)",
]




class DuckDBStore(Store):
    """Embedded store in one DuckDB file (created with its folder on first use).

    The file is opened only for the length of one read or one write transaction, never for
    the life of the object: DuckDB lets one process write a file or several read it, so a
    long job (training, estimation) holds nothing, and ``nifgraph models`` answers while
    another process estimates. A sliced read (:meth:`iter_edges`: the analysis, ``export``,
    ``push`` / ``pull`` from this store) is one read session, held until its last slice is
    taken, so that no page comes from another version of the run: while ``push`` feeds a slow
    target, writers to this file wait. A writer or reader that finds the file busy waits for the
    other's transaction (a message on stderr after a moment), up to ``lock_timeout`` seconds
    (``NIFGRAPH_LOCK_TIMEOUT``, default 120), then fails with one line."""

    kind = "duckdb"
    #: Edges a run writer keeps in memory before it moves them to its staging files (one Parquet
    #: file per spill): what a streamed run holds of its edges at most, plus one slice.
    stage_rows: int = 131_072

    def __init__(self, path: str, *, read_only: bool = False, lock_timeout: float | None = None) -> None:
        p = Path(path).expanduser()
        self.uri = str(p)
        self._path = p
        self._con: duckdb.DuckDBPyConnection | None = None  # open only inside one operation
        self._depth = 0
        self.read_only = read_only
        self.lock_timeout = lock_timeout if lock_timeout is not None else _env_timeout()
        if p.exists() and p.is_dir():
            raise StoreUnavailableError(f"Store path {p} is a folder; give a file path such as {p / 'nifgraph.duckdb'}.")
        if read_only and not p.exists():
            raise StoreUnavailableError(
                f"No store at {p}: nothing is stored there yet; run `nifgraph run` first, or pass the right "
                "--store (see `nifgraph models --help`)."
            )
        version = None
        if p.exists() and p.stat().st_size > 0:
            with self._session(write=False) as con:
                version = self._version(con)
        if read_only or version == SCHEMA_VERSION:
            return
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailableError(
                f"Cannot open store {p} ({exc.strerror or exc}); choose a writable location with --store or NIFGRAPH_STORE."
            ) from exc
        with self._session(write=True) as con:
            self._version(con)  # another process may have changed it meanwhile: check again
            try:
                for stmt in _SCHEMA:
                    con.execute(stmt)
                if not con.execute("SELECT count(*) FROM schema_info").fetchone()[0]:
                    con.execute("INSERT INTO schema_info VALUES ('version', ?)", [str(SCHEMA_VERSION)])
                else:
                    con.execute("UPDATE schema_info SET value = ? WHERE key = 'version'", [str(SCHEMA_VERSION)])
            except duckdb.Error as exc:
                raise StoreUnavailableError(f"Cannot initialise store {p}: {exc}") from exc

    def _version(self, con: duckdb.DuckDBPyConnection) -> int | None:
        """The schema version of a nifgraph store, ``None`` for an empty file; a DuckDB file of
        another program is refused before anything is created in it. A nifgraph store has
        ``schema_info`` with a version."""
        tables = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchall()}
        if not tables:
            return None
        row = con.execute("SELECT value FROM schema_info WHERE key = 'version'").fetchone() if "schema_info" in tables else None
        if row is None:
            shown = ", ".join(sorted(tables)[:5]) + (", …" if len(tables) > 5 else "")
            raise StoreUnavailableError(
                f"{self._path} is a DuckDB file of another program (tables: {shown}); nifgraph keeps its data in a "
                "file of its own: pass another --store (or NIFGRAPH_STORE)."
            )
        try:
            version = int(row[0])
        except ValueError:
            version = -1
        if version > SCHEMA_VERSION or version < 1:
            raise StoreUnavailableError(
                f"{self._path} is a nifgraph store of schema version {row[0]}, which this nifgraph "
                f"(schema {SCHEMA_VERSION}) cannot read; upgrade nifgraph (pip install -U nifgraph)."
            )
        return version

    def close(self) -> None:
        con, self._con = self._con, None
        if con is not None:
            con.close()

    # -- helpers ------------------------------------------------------------------------
    def _connect(self, write: bool) -> duckdb.DuckDBPyConnection:
        """A new connection, waiting while another process holds the file."""
        p = self._path
        deadline = time.monotonic() + self.lock_timeout
        pause, told = 0.05, False
        while True:
            try:
                return duckdb.connect(str(p), read_only=not write)
            except duckdb.Error as exc:
                msg = str(exc).splitlines()[0]
                if not any(m in msg.lower() for m in ("could not set lock", "conflicting lock")):
                    if p.is_file() and not _is_duckdb_file(p):
                        raise StoreUnavailableError(
                            f"{p} is not a nifgraph store (not a DuckDB database file; left untouched); point "
                            "--store or NIFGRAPH_STORE at a new or existing nifgraph .duckdb file."
                        ) from exc
                    if p.is_file() and _damaged(msg):
                        raise self._damage(msg) from None
                    raise StoreUnavailableError(
                        f"Cannot open store {p} ({msg}); choose a writable location with --store or NIFGRAPH_STORE."
                    ) from exc
                if time.monotonic() >= deadline:
                    raise StoreUnavailableError(
                        f"Store {p} stayed in use by another process for {self.lock_timeout:g} s; try again when "
                        "it finishes, raise NIFGRAPH_LOCK_TIMEOUT, or use --store to pick another file."
                    ) from exc
                if not told:
                    print(f"Store {p} is busy (another nifgraph process is reading or writing it); waiting up to "
                          f"{self.lock_timeout:g} s…", file=sys.stderr, flush=True)
                    told = True
                time.sleep(pause)
                pause = min(pause * 2, 0.5)

    @contextmanager
    def _session(self, write: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        """The connection of the operation in progress, or a new one for this operation."""
        if self._con is not None:
            self._depth += 1
            try:
                yield self._con
            finally:
                self._depth -= 1
            return
        if write and self.read_only:
            raise StoreError(f"Store {self.uri} was opened read-only; this command cannot write to it.")
        self._con = self._connect(write)
        try:
            yield self._con
        except duckdb.Error as exc:
            if _damaged(str(exc)):  # found while reading (a write's own errors are one line from _tx)
                raise self._damage(str(exc).splitlines()[0]) from None
            raise
        finally:
            self.close()

    def check_writable(self) -> None:
        with self._session(write=True):  # a write connection: a read-only file or folder fails here
            pass

    def _damage(self, msg: str) -> StoreUnavailableError:
        return StoreUnavailableError(
            f"Store {self._path} is damaged ({msg[:160]}); nifgraph left it as it is: restore it from a copy, or "
            "pass another --store."
        )

    @contextmanager
    def _tx(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One write transaction; a transaction inside another joins it (all-or-nothing together)."""
        outer = self._con is None
        with self._session(write=True) as con:
            if not outer:
                yield con
                return
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except duckdb.Error as exc:  # e.g. a full disk: one line, and nothing was stored
                con.execute("ROLLBACK")
                reason = str(exc).splitlines()[0][:160]
                raise StoreError(
                    f"Writing to store {self.uri} failed ({reason}); nothing of this write was stored."
                ) from None
            except BaseException:
                con.execute("ROLLBACK")
                raise
            else:
                try:
                    con.execute("COMMIT")
                except duckdb.Error as exc:
                    raise StoreError(f"Commit to {self.uri} failed: {exc}") from exc

    def _insert_frame(self, con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, done: int = 0) -> None:
        """Insert ``frame`` in batches, calling the fault hook after each one (``done``: rows of the
        same write inserted before this frame, for the hook's count)."""
        cols = ", ".join(frame.columns)
        n = len(frame)
        step = max(int(self.batch_size), 1)
        for start in range(0, max(n, 1), step):
            chunk = frame.iloc[start : start + step]
            if len(chunk) == 0:
                break
            con.register("_nif_chunk", chunk)
            try:
                con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _nif_chunk")  # noqa: S608 - fixed names
            finally:
                con.unregister("_nif_chunk")
            self._after_batch(table, done + start + len(chunk))

    def _fetch(self, sql: str, params: list[Any]) -> pd.DataFrame:
        with self._session(write=False) as con:
            return con.execute(sql, params).df()

    # -- models ------------------------------------------------------------------------
    def put_model(self, model: ModelRecord, neurons: pd.DataFrame, checkpoint: bytes | None = None) -> None:
        frame = checked_neurons(model, neurons)
        self.check_layers_kept(model)
        with self._tx() as con:
            self._write_model(con, model, frame, checkpoint)

    def _write_model(
        self, con: duckdb.DuckDBPyConnection, model: ModelRecord, frame: pd.DataFrame, checkpoint: bytes | None
    ) -> None:
        """Replace a model, its neurons and its checkpoint (inside the caller's transaction)."""
        con.execute("DELETE FROM models WHERE model_id = ?", [model.model_id])
        con.execute("DELETE FROM neurons WHERE model_id = ?", [model.model_id])
        con.execute("DELETE FROM checkpoints WHERE model_id = ?", [model.model_id])
        if checkpoint is not None:
            con.execute("INSERT INTO checkpoints VALUES (?, ?)", [model.model_id, bytes(checkpoint)])
            self._after_batch("checkpoints", 1)
        con.execute(
            "INSERT INTO models VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                model.model_id, model.name, model.dataset, json.dumps(list(model.layer_sizes)),
                json.dumps(list(model.activations)), json.dumps(list(model.feature_names)),
                json.dumps(list(model.class_names)), model.test_accuracy, model.train_accuracy,
                dumps(model.meta), model.created_at,
            ],
        )
        self._insert_frame(con, "neurons", frame)

    def _row(self, table: str, key: str, value: str, hint: str) -> dict[str, Any]:
        """The row of ``table`` whose ``key`` is ``value``, or :class:`NotFoundError` with ``hint``."""
        df = self._fetch(f"SELECT * FROM {table} WHERE {key} = ?", [value])  # table/key are constants
        if df.empty:
            raise NotFoundError(f"No {table[:-1]} {value!r} in store {self.uri}; {hint}")
        return df.iloc[0].to_dict()

    def get_model(self, model_id: str) -> ModelRecord:
        return model_from_flat(self._row("models", "model_id", model_id, "list them with `nifgraph models`."))

    def list_models(self) -> list[ModelRecord]:
        df = self._fetch("SELECT * FROM models ORDER BY created_at, model_id", [])
        return [model_from_flat(r) for r in df.to_dict("records")]

    def get_neurons(self, model_id: str) -> pd.DataFrame:
        self.get_model(model_id)
        df = self._fetch("SELECT * FROM neurons WHERE model_id = ? ORDER BY layer, idx", [model_id])
        return rec.conform(df, rec.NEURON_COLUMNS)

    def delete_model(self, model_id: str) -> None:
        self.get_model(model_id)
        with self._tx() as con:
            runs = "SELECT run_id FROM runs WHERE model_id = ?"
            for table in ("edges", "neuron_metrics", "attribution", "analyses"):
                con.execute(f"DELETE FROM {table} WHERE run_id IN ({runs})", [model_id])  # noqa: S608
            con.execute("DELETE FROM runs WHERE model_id = ?", [model_id])
            con.execute("DELETE FROM neurons WHERE model_id = ?", [model_id])
            con.execute("DELETE FROM checkpoints WHERE model_id = ?", [model_id])
            con.execute("DELETE FROM models WHERE model_id = ?", [model_id])

    def legacy_checkpoint_dirs(self) -> list[Path]:
        return [self._path.parent / "models"]

    def get_checkpoint(self, model_id: str) -> bytes | None:
        self.get_model(model_id)
        with self._session(write=False) as con:
            has = con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = 'checkpoints'"
            ).fetchone()[0]
            row = con.execute("SELECT data FROM checkpoints WHERE model_id = ?", [model_id]).fetchone() if has else None
        return None if row is None else bytes(row[0])

    # -- runs ----------------------------------------------------------------------------
    def run_writer(self, run: RunRecord, model_parts: ModelParts | None = None) -> DuckDBRunWriter:
        if self.read_only:
            raise StoreError(f"Store {self.uri} was opened read-only; this command cannot write to it.")
        return DuckDBRunWriter(self, run, model_parts)

    def _staging_dir(self) -> Path:
        """A new private staging folder beside the store; first removes those of processes that
        are gone (a writer killed before it could clean up)."""
        prefix = f".{self._path.name}.staging-"
        if os.name == "posix":  # (os.kill(pid, 0) would end the process on Windows)
            for old in [d for d in self._path.parent.iterdir() if d.name.startswith(prefix)]:
                try:
                    pid = int(old.name[len(prefix):].split("-", 1)[0])
                    os.kill(pid, 0)
                except ProcessLookupError:
                    shutil.rmtree(old, ignore_errors=True)
                except (ValueError, OSError):  # not ours, or a live process of another user
                    pass
        try:
            return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=self._path.parent))
        except OSError as exc:
            raise StoreError(
                f"Cannot stage the run's edges beside store {self.uri} ({exc.strerror or exc}); nothing was stored."
            ) from exc

    def _commit_run(
        self, run: RunRecord, model: tuple[ModelRecord, pd.DataFrame, bytes | None] | None,
        files: list[Path], frames: list[pd.DataFrame],
    ) -> None:
        """One transaction: the model (if given), the run's staged Parquet ``files`` and in-memory
        ``frames`` into ``edges``, and the run row last (a reader inside another transaction
        never sees edges without it)."""
        cols = ", ".join(rec.EDGE_COLUMNS)
        with self._tx() as con:
            # one thread: each insert thread buffers row groups until the commit; one keeps a million-
            # edge commit at ~+25 MiB instead of ~+115 MiB on two cores, and is no slower (1.4 s)
            con.execute("SET threads = 1")
            if model is not None:
                self._write_model(con, *model)
            elif not con.execute("SELECT count(*) FROM models WHERE model_id = ?", [run.model_id]).fetchone()[0]:
                raise NotFoundError(  # deleted by another process while the run was estimated
                    f"No model {run.model_id!r} in store {self.uri} any more (deleted meanwhile?); "
                    "the run was not stored."
                )
            old = con.execute("SELECT seq FROM runs WHERE run_id = ?", [run.run_id]).fetchone()
            seq = old[0] if old else con.execute("SELECT nextval('run_seq')").fetchone()[0]
            for table in ("edges", "neuron_metrics", "attribution", "analyses", "runs"):
                con.execute(f"DELETE FROM {table} WHERE run_id = ?", [run.run_id])  # noqa: S608
            done = 0
            for path in files:
                got = con.execute(
                    f"INSERT INTO edges ({cols}) SELECT {cols} FROM read_parquet({_sql_str(path)})"  # noqa: S608
                ).fetchone()
                done += int(got[0]) if got else 0
                self._after_batch("edges", done)
            for frame in frames:
                self._insert_frame(con, "edges", frame, done)
                done += len(frame)
            con.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    run.run_id, run.model_id, run.estimator, run.seed, run.split, run.n_samples,
                    run.beta, run.variant, dumps(run.settings), run.elapsed_s, run.created_at, seq,
                ],
            )

    def get_run(self, run_id: str) -> RunRecord:
        return run_from_flat(self._row("runs", "run_id", run_id, "list runs with `nifgraph models`."))

    def list_runs(self, model_id: str | None = None) -> list[RunRecord]:
        if model_id is None:
            df = self._fetch("SELECT * FROM runs ORDER BY created_at, seq, run_id", [])
        else:
            df = self._fetch("SELECT * FROM runs WHERE model_id = ? ORDER BY created_at, seq, run_id", [model_id])
        return [run_from_flat(r) for r in df.to_dict("records")]

    def get_edges(self, run_id: str) -> pd.DataFrame:
        self.get_run(run_id)
        df = self._fetch(f"SELECT * FROM edges WHERE run_id = ? ORDER BY {', '.join(EDGE_ORDER)}", [run_id])  # noqa: S608
        return rec.conform(df, rec.EDGE_COLUMNS)

    def _edge_slices(self, run_id: str, columns: tuple[str, ...], batch_rows: int) -> Iterator[pd.DataFrame]:
        model = self.get_model(self.get_run(run_id).model_id)
        return self._edge_pages(run_id, model, columns, batch_rows)

    def _edge_pages(
        self, run_id: str, model: ModelRecord, columns: tuple[str, ...], batch_rows: int
    ) -> Iterator[pd.DataFrame]:
        """One query per key range of :func:`~.base.edge_pages` (each sorts only its page), all in
        one read session: no writer changes the file between pages. ``run_id`` is not read from
        the table (it is the same on every row). Besides a page, DuckDB's buffer manager keeps the
        compressed table blocks it has read (evictable; ~17 MiB for the five columns of the
        analysis at 1.1M edges)."""
        types = {c: rec.EDGE_COLUMNS[c] for c in columns}
        read = [c for c in columns if c != "run_id"]
        # names from the fixed EDGE_COLUMNS whitelist (checked by edge_columns), values as parameters
        sql = (
            f"SELECT {', '.join(read)} FROM edges WHERE run_id = ? AND src_layer = ? "  # noqa: S608
            f"AND src_idx BETWEEN ? AND ? ORDER BY {', '.join(EDGE_ORDER[1:])}"
        ) if read else ""
        with self._session(write=False) as con:
            if not con.execute("SELECT count(*) FROM runs WHERE run_id = ?", [run_id]).fetchone()[0]:
                self.get_run(run_id)  # deleted since the check: the one NotFoundError
            for layer, lo, hi in edge_pages(model, batch_rows):
                if read:
                    page = con.execute(sql, [run_id, layer, lo, hi]).df()
                else:  # only run_id: count the page's edges
                    n = con.execute(
                        "SELECT count(*) FROM edges WHERE run_id = ? AND src_layer = ? AND src_idx BETWEEN ? AND ?",
                        [run_id, layer, lo, hi],
                    ).fetchone()[0]
                    page = pd.DataFrame(index=pd.RangeIndex(int(n)))
                if len(page) == 0:
                    continue
                if "run_id" in types:
                    page["run_id"] = run_id
                yield from cut(rec.conform(page, types), batch_rows)

    # -- analyses ------------------------------------------------------------------------
    def put_analysis(self, analysis: AnalysisRecord) -> None:
        check_analysis(self.get_model(self.get_run(analysis.run_id).model_id), analysis)
        metrics = rec.conform(analysis.neuron_metrics, rec.NEURON_METRIC_COLUMNS).assign(run_id=analysis.run_id)
        attr = rec.conform(analysis.attribution, rec.ATTRIBUTION_COLUMNS).assign(run_id=analysis.run_id)
        with self._tx() as con:
            for table in ("neuron_metrics", "attribution", "analyses"):
                con.execute(f"DELETE FROM {table} WHERE run_id = ?", [analysis.run_id])  # noqa: S608
            self._insert_frame(con, "neuron_metrics", metrics[["run_id", *rec.NEURON_METRIC_COLUMNS]])
            self._insert_frame(con, "attribution", attr[["run_id", *rec.ATTRIBUTION_COLUMNS]])
            con.execute(
                "INSERT INTO analyses VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    analysis.run_id, analysis.engine, analysis.gamma, analysis.threshold,
                    analysis.modularity, analysis.n_communities, analysis.accuracy_before,
                    analysis.accuracy_after, dumps(analysis.settings), analysis.created_at,
                ],
            )

    def get_analysis(self, run_id: str) -> AnalysisRecord | None:
        with self._session(write=False):  # one session: no writer replaces the analysis between the reads
            self.get_run(run_id)
            df = self._fetch("SELECT * FROM analyses WHERE run_id = ?", [run_id])
            if df.empty:
                return None
            r = df.iloc[0].to_dict()
            metrics = self._fetch("SELECT * FROM neuron_metrics WHERE run_id = ? ORDER BY layer, idx", [run_id])
            attr = self._fetch("SELECT * FROM attribution WHERE run_id = ? ORDER BY feature_idx, class_idx", [run_id])
        return AnalysisRecord(
            run_id=run_id,
            engine=r["engine"],
            gamma=nan_of(r["gamma"]),
            threshold=nan_of(r["threshold"]),
            modularity=nan_of(r["modularity"]),
            n_communities=int(r["n_communities"]),
            accuracy_before=nan_of(r["accuracy_before"]),
            accuracy_after=nan_of(r["accuracy_after"]),
            neuron_metrics=rec.conform(metrics, rec.NEURON_METRIC_COLUMNS),
            attribution=rec.conform(attr, rec.ATTRIBUTION_COLUMNS),
            settings=json.loads(r["settings"]),
            created_at=r["created_at"],
        )


def _sql_str(path: Path) -> str:
    """``path`` as a SQL string literal."""
    return "'" + str(path).replace("'", "''") + "'"


class DuckDBRunWriter(RunWriter):
    """A run written in slices into a :class:`DuckDBStore` (see the module docstring): up to
    :attr:`DuckDBStore.stage_rows` edges in memory, the rest in Parquet files in a staging
    folder, all copied into the store by one transaction at the commit."""

    store: DuckDBStore

    def __init__(self, store: DuckDBStore, run: RunRecord, model_parts: ModelParts | None) -> None:
        super().__init__(store, run, model_parts)
        self._model = None
        if model_parts is not None:  # checked now, not after the estimate
            model, neurons, checkpoint = model_parts
            self._model = (model, checked_neurons(model, neurons), checkpoint)
            store.check_layers_kept(model)
        self._frames: list[pd.DataFrame] = []
        self._rows = 0
        self._dir: Path | None = None
        self._files: list[Path] = []
        self._staged = 0

    def _write(self, frame: pd.DataFrame) -> None:
        self._frames.append(frame)
        self._rows += len(frame)
        if self._rows >= self.store.stage_rows:
            self._spill()

    def _spill(self) -> None:
        """Move the slices held in memory to one Parquet file of the staging folder."""
        if self._dir is None:
            self._dir = self.store._staging_dir()
        path = self._dir / f"edges-{len(self._files):06d}.parquet"
        frame = self._frames[0] if len(self._frames) == 1 else pd.concat(self._frames, ignore_index=True)
        con = duckdb.connect()  # in memory: only converts the frame to Parquet
        try:
            con.register("_nif_slice", frame)
            con.execute(f"COPY (SELECT * FROM _nif_slice) TO {_sql_str(path)} (FORMAT parquet)")  # noqa: S608
        except duckdb.Error as exc:  # e.g. a full disk: one line, and nothing was stored
            reason = str(exc).splitlines()[0][:160]
            raise StoreError(
                f"Staging the edges of run {self.run.run_id} beside store {self.store.uri} failed ({reason}); "
                "nothing of this run was stored."
            ) from None
        finally:
            con.close()
        self._files.append(path)
        self._frames, self._rows = [], 0
        self._staged += len(frame)
        self.store._after_batch("edges", self._staged)

    def _commit(self) -> None:
        self.store._commit_run(self.run, self._model, self._files, self._frames)
        self._frames = []
        self._remove_staging()

    def _discard(self) -> None:
        self._frames = []
        self._remove_staging()

    def _remove_staging(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir, self._files = None, []


def _is_duckdb_file(path) -> bool:
    """Whether ``path`` starts like a DuckDB database file (its magic number ``DUCK`` at byte 8)."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return True  # unreadable: let DuckDB's own message speak
    return len(head) >= 12 and head[8:12] == b"DUCK"

"""The one I/O seam of the Neo4j store: named Cypher through the official ``neo4j`` driver,
in managed transactions, with driver errors mapped to nifgraph's errors (and their fix).

Every statement goes through :class:`DriverRunner` (``read``, ``read_columns``, ``write``,
``write_tx``, ``adhoc``); tests pass a recording fake with the same methods to
:class:`~nifgraph.store.neo4j.Neo4jStore` (``runner=``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .. import cypher
from ..errors import StoreError, StoreUnavailableError, ValidationError

__all__ = ["DriverRunner", "Statement", "bind", "run_in_tx", "first_line", "split_uri", "START_HINT"]

#: Fix printed when the server cannot be reached.
START_HINT = "start it with `docker compose up -d` (see docs/neo4j.md) or check the URI"


def split_uri(uri: str) -> tuple[str, str | None, str | None]:
    """``uri`` without the credentials it may carry (``bolt://user:password@host:7687``,
    percent-encoded), and that user and password (``None`` where absent). Refuses a URI
    without a host or with a port outside 1-65535, naming it without its password."""
    from urllib.parse import unquote, urlsplit, urlunsplit

    parts = urlsplit(uri.strip())
    userinfo, at, hostport = parts.netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    clean = urlunsplit(parts._replace(netloc=hostport)) if at else uri.strip()
    try:
        port = parts.port
    except ValueError:  # not a number, or out of range
        port = -1
    if not parts.hostname or (port is not None and not 1 <= port <= 65535):
        shown = urlunsplit(parts._replace(netloc=f"{user}{':***' if colon else ''}@{hostport}")) if at else clean
        raise ValidationError(
            f"Neo4j URI {shown!r} needs a host (and, if given, a port in 1-65535); give e.g. bolt://127.0.0.1:7687."
        )
    return clean, (unquote(user) or None) if at else None, unquote(password) if at and colon else None


def bind(name: str, params: dict[str, Any]) -> cypher.CypherQuery:
    """The query ``name``, after checking that ``params`` are exactly the ones it declares."""
    q = cypher.load(name)
    if set(params) != set(q.params):
        raise RuntimeError(
            f"Cypher query {name!r} takes parameters {list(q.params)}, called with {sorted(params)}"
        )
    return q


def run_in_tx(run: Callable[..., Any], name: str, **params: Any) -> list[dict[str, Any]]:
    """Run the named query inside a transaction opened by :meth:`DriverRunner.write_tx`."""
    return run(bind(name, params), params)



class DriverRunner:
    """Runs named Cypher through the official ``neo4j`` driver (managed transactions).

    Every statement of the store goes through :meth:`read`, :meth:`read_columns`,
    :meth:`write` or :meth:`write_tx`; tests substitute a recording fake with the same methods.
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

            quiet_driver_log()
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
            if not self._password:
                raise StoreUnavailableError(
                    f"Neo4j at {self.uri} wants a password and none was given; set NEO4J_PASSWORD "
                    "(or give bolt://user:password@host:7687)."
                ) from e
            raise StoreUnavailableError(
                f"Neo4j at {self.uri} refused the credentials of user {self.user!r}; "
                "check NEO4J_USER / NEO4J_PASSWORD (or the user:password in the URI)."
            ) from e
        except (nx.ServiceUnavailable, nx.SessionExpired) as e:
            raise StoreUnavailableError(
                f"Neo4j at {self.uri} is not reachable ({first_line(e)}); {START_HINT}."
            ) from e
        except nx.ConfigurationError as e:
            raise StoreUnavailableError(
                f"Cannot use Neo4j URI {self.uri!r} ({first_line(e)}); give neo4j://host:7687 "
                "or bolt://host:7687."
            ) from e
        except nx.Neo4jError as e:
            code = getattr(e, "code", "") or ""
            if "AuthenticationRateLimit" in code:
                raise StoreUnavailableError(
                    f"Neo4j at {self.uri} refuses logins for a while after too many wrong passwords "
                    "(dbms.security.auth_lock_time, 5 s by default); check NEO4J_USER / NEO4J_PASSWORD, then retry."
                ) from e
            if "DatabaseNotFound" in code:
                raise StoreUnavailableError(
                    f"Neo4j at {self.uri} has no database {self.database!r}; check NEO4J_DATABASE."
                ) from e
            if "AccessMode" in code or "ForbiddenOnReadOnlyDatabase" in code:
                raise ValidationError(
                    f"The query writes but ran read-only; rerun with --write ({first_line(e)})."
                ) from e
            raise StoreError(f"Neo4j failed while {action}: {first_line(e)}") from e
        except nx.DriverError as e:
            raise StoreError(f"Neo4j driver failed while {action}: {first_line(e)}") from e
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

    def read_columns(self, query: cypher.CypherQuery, params: dict[str, Any]) -> dict[str, list[Any]]:
        """The single row of a read query that returns lists (one per column), as received:
        without ``Result.data()``'s per-value conversion, which costs more than the transfer
        for a million-entry list (the lists hold plain numbers only)."""

        def work(tx: Any) -> dict[str, list[Any]]:
            rec = tx.run(query.text, params).single(strict=True)
            return dict(zip(rec.keys(), rec.values(), strict=True))

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
            rows = [[plain(v) for v in rec.values()] for rec in res]
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


def first_line(e: BaseException) -> str:
    """The error message on one line (the driver's messages span several)."""
    msg = getattr(e, "message", None) or str(e) or type(e).__name__
    return " ".join(part.strip() for part in str(msg).splitlines() if part.strip())[:300]


def quiet_driver_log() -> None:
    """Keep the driver's own warnings (printed by logging's last-resort handler) off the
    terminal: nifgraph reports the error once, with the fix."""
    import logging

    log = logging.getLogger("neo4j")
    if not log.handlers:
        log.addHandler(logging.NullHandler())


def plain(v: Any) -> Any:
    """Graph values of ad-hoc results as plain dicts (nodes and relationships: their properties)."""
    from neo4j.graph import Node, Path, Relationship

    if isinstance(v, Node):
        return {"_labels": sorted(v.labels), **dict(v)}
    if isinstance(v, Relationship):
        return {"_type": v.type, **dict(v)}
    if isinstance(v, Path):
        return [plain(n) for n in v.nodes]
    if isinstance(v, list):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    return v



class Statement:
    """One statement of a multi-statement schema file, shaped like a CypherQuery for the runner."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.text = text


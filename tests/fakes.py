"""Test doubles shared by the test modules: a recording fake of the Neo4j store's I/O seam
(:class:`~nifgraph.store.neo4j_runner.DriverRunner`), injected through the store's
constructor (``Neo4jStore(..., runner=FakeRunner(...))``)."""

from __future__ import annotations


class FakeRunner:
    """Records (query name, params); answers from ``answers[name](params)`` or a default."""

    def __init__(self, answers=None, fail_on=None, record_schema_check=False):
        self.calls: list[tuple[str, dict]] = []
        self.answers = answers or {}
        self.fail_on = fail_on
        #: the store's schema check on its first statement (``store/schema_state``) is answered
        #: "up to date" and not recorded, unless a test asks for it
        self.record_schema_check = record_schema_check

    def _answer(self, query, params):
        if query.name == "store/schema_state" and not self.record_schema_check and query.name not in self.answers:
            return [{"version": 2, "old_runs": [], "layouts": [2]}]
        self.calls.append((query.name, params))
        if self.fail_on == query.name:
            raise RuntimeError(f"boom in {query.name}")
        if query.name in self.answers:
            return self.answers[query.name](params)
        if "rows" in params:
            return [{"written": len(params["rows"])}]
        if "src" in params:  # columnar edge batches (store/put_edges)
            return [{"written": len(params["src"])}]
        if "limit" in params:
            return [{"deleted": 0}]
        return []

    read = write = _answer

    def read_columns(self, query, params):
        rows = self._answer(query, params)
        return rows[0] if rows else {}

    def write_tx(self, fn):
        return fn(lambda query, params: self._answer(query, params))

    def adhoc(self, text, params, write):
        self.calls.append(("<adhoc>", params))
        return ["x"], [[1]]

    def close(self):
        pass


def fake_neo4j_store(answers=None, **kw):
    """A :class:`~nifgraph.store.neo4j.Neo4jStore` whose statements go to a :class:`FakeRunner`."""
    from nifgraph.store.neo4j import Neo4jStore

    return Neo4jStore("bolt://fake:7687", "neo4j", "pw", runner=FakeRunner(answers=answers, **kw))

"""Test doubles shared by the test modules: a recording fake of the Neo4j store's I/O seam
(:class:`~nifgraph.store.neo4j_runner.DriverRunner`), injected through the store's
constructor (``Neo4jStore(..., runner=FakeRunner(...))``), and :class:`GraphRunner`, an
in-memory stand-in for the server that keeps what the store writes and answers its run reads."""

from __future__ import annotations

import numpy as np


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


class GraphRunner(FakeRunner):
    """What the Neo4j store writes, kept as the server keeps it (models pending or visible, runs
    with their status, each ``store/put_edges`` batch: relationship properties and NIFColumns
    block), and the reads the run writer, ``get_edges`` and ``iter_edges`` need answered from it, as
    the Cypher files answer them: a run is visible only once ``store/complete_run`` ran."""

    def __init__(self):
        super().__init__()
        self.models: dict[str, dict] = {}  # model_id -> {"props", "pending"}
        self.runs: dict[str, dict] = {}  # run_id -> {"props", "status"}
        self.batches: dict[str, list[dict]] = {}  # run_id -> put_edges params
        self.checkpoints: dict[str, bytes] = {}
        self.neurons: dict[str, dict] = {}  # neuron_id -> properties
        a = self.answers
        a["store/put_checkpoint"] = lambda p: self.checkpoints.update({p["model_id"]: p["data"]}) or []
        a["store/delete_checkpoint"] = lambda p: self.checkpoints.pop(p["model_id"], None) and [] or []
        a["store/get_checkpoint"] = lambda p: [{"data": self.checkpoints[p["model_id"]]}] if p["model_id"] in self.checkpoints else []
        a["store/put_model"] = self._put_model
        a["store/put_neurons"] = self._put_neurons
        a["store/get_neurons"] = lambda p: sorted(
            (n for n in self.neurons.values() if n["model_id"] == p["model_id"]), key=lambda n: (n["layer"], n["idx"]))
        a["store/get_model"] = lambda p: self._model(p["model_id"])
        a["store/list_models"] = lambda p: [{"model": m["props"]} for m in self.models.values() if m["pending"] is None]
        a["store/begin_run"] = self._begin_run
        a["store/put_edges"] = self._put_edges
        a["store/complete_run"] = self._complete_run
        a["store/get_run"] = lambda p: [{"run": r["props"]} for r in [self.runs.get(p["run_id"])]
                                        if r and r["status"] == "complete"]
        a["store/list_runs"] = lambda p: [{"run": r["props"]} for r in self.runs.values() if r["status"] == "complete"
                                          and p["model_id"] in (None, r["props"]["model_id"])]
        a["store/get_edges"] = lambda p: [self._columns(p["run_id"])]
        a["store/get_edge_page"] = lambda p: [self._page(p)]
        a["store/delete_run_edges"] = lambda p: self.batches.pop(p["run_id"], None) and [{"deleted": 0}] or [{"deleted": 0}]
        a["store/delete_run_node"] = lambda p: [{"deleted": int(self.runs.pop(p["run_id"], None) is not None)}]
        a["store/hide_runs_of_model"] = self._hide_model
        a["store/delete_model_node"] = lambda p: [{"deleted": int(self.models.pop(p["model_id"], None) is not None)}]

    def _put_model(self, p):
        mid = p["model"]["model_id"]
        old = self.models.get(mid)
        pending = p["pending"] if old is None else (None if old["pending"] is None else p["pending"])
        self.models[mid] = {"props": p["model"], "pending": pending}
        return [{"model_id": mid}]

    def _hide_model(self, p):
        if (m := self.models.get(p["model_id"])) is not None:
            m["pending"] = m["pending"] or "deleting"
        runs = [rid for rid, r in self.runs.items() if r["props"]["model_id"] == p["model_id"]]
        for rid in runs:
            self.runs[rid]["status"] = "deleting"
        return [{"run_id": rid} for rid in runs] or [{"run_id": None}]

    def _put_neurons(self, p):
        for row in p["rows"]:
            self.neurons[row["neuron_id"]] = dict(row["props"])
        return [{"written": len(p["rows"])}]

    def _model(self, mid):
        m = self.models.get(mid)
        return [{"model": m["props"]}] if m and m["pending"] is None else []

    def _begin_run(self, p):
        rid = p["run"]["run_id"]
        fresh = rid not in self.runs
        self.runs[rid] = {"props": dict(p["run"]), "status": "writing"}
        return [{"run_id": rid, "fresh": fresh}]

    def _put_edges(self, p):
        assert self.runs[p["run_id"]]["status"] == "writing"
        assert p["seq"] not in {b["seq"] for b in self.batches.get(p["run_id"], [])}  # one NIFColumns node each
        self.batches.setdefault(p["run_id"], []).append(p)
        return [{"written": len(p["src"])}]

    def _complete_run(self, p):
        r = self.runs[p["run_id"]]
        r["props"].update(p["run"])
        r["status"] = "complete"
        r["updated_ms"] = p["now_ms"]
        for m in self.models.values():
            if m["pending"] == p["run_id"]:
                m["pending"] = None
        return [{"run_id": p["run_id"], "published": True}]

    def _columns(self, rid):
        cols = {c: [] for c in ("src_layer", "src_idx", "dst_layer", "dst_idx", "value", "value_norm", "q_value")}
        blocks = []
        for b in sorted(self.batches.get(rid, []), key=lambda b: b["seq"]):
            ends = [tuple(int(x) for x in i.split(":")[1:]) for i in b["ids"]]
            for s, d in zip(b["src"], b["dst"], strict=True):
                cols["src_layer"].append(ends[s][0])
                cols["src_idx"].append(ends[s][1])
                cols["dst_layer"].append(ends[d][0])
                cols["dst_idx"].append(ends[d][1])
            for c in ("value", "value_norm", "q_value"):  # a missing property reads as NaN
                cols[c] += [np.nan if v is None else v for v in b["cols"][c]]
            blocks.append({**b["block"], "run_id": rid, "seq": b["seq"]})
        return {**cols, "blocks": blocks}

    def _page(self, p):
        """``store/get_edge_page``: the edges whose source is in layer ``layer``, index
        ``from_idx`` .. ``to_idx``, in write order (the server's order is not the store's either),
        and with ``with_columns`` the matching entries of every NIFColumns block (null: a column
        the block does not store)."""
        r = self.runs.get(p["run_id"])
        complete = bool(r and r["status"] == "complete")
        cols = {c: [] for c in ("src_idx", "dst_layer", "dst_idx", "value", "value_norm", "q_value")}
        blocks = []
        for b in sorted(self.batches.get(p["run_id"], []) if complete else [], key=lambda b: b["seq"]):
            ends = [tuple(int(x) for x in i.split(":")[1:]) for i in b["ids"]]
            for k, (s, d) in enumerate(zip(b["src"], b["dst"], strict=True)):
                if ends[s][0] == p["layer"] and p["from_idx"] <= ends[s][1] <= p["to_idx"]:
                    cols["src_idx"].append(ends[s][1])
                    cols["dst_layer"].append(ends[d][0])
                    cols["dst_idx"].append(ends[d][1])
                    for c in ("value", "value_norm", "q_value"):
                        v = b["cols"][c][k]
                        cols[c].append(np.nan if v is None else v)
            blk = b["block"]
            keep = [i for i in range(len(blk["src_idx"])) if blk["src_layer"][i] == p["layer"]
                    and p["from_idx"] <= blk["src_idx"][i] <= p["to_idx"]]
            if p["with_columns"] and keep:
                blocks.append({c: ([blk[c][i] for i in keep] if c in blk else None) for c in (
                    "src_layer", "src_idx", "dst_layer", "dst_idx", "relevance", "redundancy", "cost", "p_value",
                    "ci_low", "ci_high")})
        return {"complete": complete, "updated_ms": r.get("updated_ms") if complete else None, **cols,
                "blocks": blocks}


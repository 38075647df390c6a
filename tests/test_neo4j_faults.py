"""A main job storing into Neo4j, killed with SIGKILL while it writes its model and first run:
no visible model without its run, and `nifgraph db repair` removes what the job left.
Needs a server: set NEO4J_URI (and NEO4J_USER, NEO4J_PASSWORD)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .conftest import invoke, kill_when_paused, open_neo4j_store

pytestmark = [pytest.mark.neo4j, pytest.mark.slow]

FAST = ("--epochs", "30", "--estimator", "gcmi")


def _hidden_models(neo) -> set[str]:
    got = neo.run_cypher("MATCH (m:Model) WHERE m.pending IS NOT NULL RETURN m.model_id AS model_id")
    return set(got["model_id"]) if len(got) else set()


@pytest.mark.parametrize("point", ["write:checkpoints", "write:neurons", "write:edges"])
def test_a_job_killed_while_writing_leaves_no_visible_model(tmp_path, point):
    neo = open_neo4j_store()
    try:
        visible = {m.model_id for m in neo.list_models()}
        hidden = _hidden_models(neo)
        ready = tmp_path / "ready"
        env = dict(os.environ, NIFGRAPH_FAULT_PAUSE=point, NIFGRAPH_FAULT_READY=str(ready))
        job = subprocess.Popen(
            [sys.executable, "-m", "nifgraph", "run", *FAST, "--seed", "7", "--store", neo.uri], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        kill_when_paused(job, ready, timeout=180)
        assert {m.model_id for m in neo.list_models()} == visible  # nothing new visible
        left = _hidden_models(neo) - hidden
        if point != "write:edges":  # killed inside the model's own transaction: nothing committed
            assert left == set()
            return
        assert len(left) == 1, left  # killed between edge batches: the model is there, hidden
        (mid,) = left
        res = invoke("db", "repair", "--store", neo.uri)
        assert res.exit_code == 0, res.output
        got = neo.run_cypher(
            "OPTIONAL MATCH (m:Model {model_id: $m}) WITH count(m) AS models "
            "OPTIONAL MATCH (n:Neuron {model_id: $m}) WITH models, count(n) AS neurons "
            "OPTIONAL MATCH (r:Run {model_id: $m}) RETURN models, neurons, count(r) AS runs",
            {"m": mid},
        )
        assert got.iloc[0].tolist() == [0, 0, 0]
    finally:
        neo.close()

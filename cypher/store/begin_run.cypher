// name: store/begin_run
// answers: Create (or reopen) a run in status 'writing', invisible to every read, linked to its model.
// params: run:map, seq:int, now_ms:int
MATCH (m:Model {model_id: $run.model_id})
MERGE (r:Run {run_id: $run.run_id})
ON CREATE SET r.seq = $seq
SET r += $run, r.status = 'writing', r.updated_ms = $now_ms
MERGE (r)-[:OF_MODEL]->(m)
RETURN r.run_id AS run_id

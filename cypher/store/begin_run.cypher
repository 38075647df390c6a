// name: store/begin_run
// answers: Create (or reopen) a run in status 'writing', invisible to every read, linked to its model.
//          fresh: the run node is new (then no edges or columns of it exist: a run's edges and columns
//          are always deleted before its node). edge_layout: how its edges are stored (2: statistics
//          split between the NIF relationships and NIFColumns nodes; runs without it were written
//          before and are migrated on open). A reopened run loses its analysis pointer: the
//          analysis was of the edges being replaced (the writer then deletes those analyses).
// params: run:map, seq:int, now_ms:int, edge_layout:int
MATCH (m:Model {model_id: $run.model_id})
MERGE (r:Run {run_id: $run.run_id})
ON CREATE SET r.seq = $seq
WITH m, r, r.status IS NULL AS fresh
SET r += $run, r.status = 'writing', r.updated_ms = $now_ms, r.edge_layout = $edge_layout, r.analysis_id = null
MERGE (r)-[:OF_MODEL]->(m)
RETURN r.run_id AS run_id, fresh

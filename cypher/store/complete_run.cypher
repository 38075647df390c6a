// name: store/complete_run
// answers: Make a fully written run visible (the last step of a run write).
// params: run_id, n_edges:int, now_ms:int
MATCH (r:Run {run_id: $run_id})
SET r.status = 'complete', r.n_edges = $n_edges, r.updated_ms = $now_ms
RETURN r.run_id AS run_id

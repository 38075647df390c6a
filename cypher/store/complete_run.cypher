// name: store/complete_run
// answers: Make a fully written run visible (the last step of a run write), with its final
//          properties (`run`: settings and timings are known only when its edges are written), and
//          in the same transaction publish the model that waits for this run (store/put_model with
//          pending). significance: whether the run's edges carry q-values (a permutation null was run).
// params: run:map, run_id, n_edges:int, significance:bool, now_ms:int
MATCH (r:Run {run_id: $run_id})
SET r += $run, r.status = 'complete', r.n_edges = $n_edges, r.significance = $significance, r.updated_ms = $now_ms
WITH r
OPTIONAL MATCH (m:Model {model_id: r.model_id})
WHERE m.pending = r.run_id
SET m.pending = null, m.updated_ms = $now_ms
RETURN r.run_id AS run_id, m IS NOT NULL AS published

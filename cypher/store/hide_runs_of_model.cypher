// name: store/hide_runs_of_model
// answers: The first step of deleting a model: hide it (pending 'deleting': every read skips it, and
//          `nifgraph db repair` finishes a deletion that was interrupted) and mark every run of it as
//          being deleted (invisible); list the runs (run_id null when it has none).
// params: model_id, now_ms:int
OPTIONAL MATCH (m:Model {model_id: $model_id})
SET m.pending = coalesce(m.pending, 'deleting'), m.updated_ms = $now_ms
WITH m
OPTIONAL MATCH (r:Run {model_id: $model_id})
SET r.status = 'deleting'
RETURN r.run_id AS run_id

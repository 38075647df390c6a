// name: store/list_runs
// answers: Complete runs of one model (or of all models when model_id is null), oldest first.
// params: model_id
MATCH (r:Run)
WHERE r.status = 'complete' AND ($model_id IS NULL OR r.model_id = $model_id)
RETURN r {.*} AS run
ORDER BY r.created_at, r.seq, r.run_id

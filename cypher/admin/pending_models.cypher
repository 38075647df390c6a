// name: admin/pending_models
// answers: Which models still wait for a first run that was never completed (a job killed while
//          writing a model with its run), older than a given age?
// params: before_ms:int
MATCH (m:Model)
WHERE m.pending IS NOT NULL AND coalesce(m.updated_ms, 0) <= $before_ms
OPTIONAL MATCH (r:Run {run_id: m.pending})
WITH m, r
WHERE r IS NULL OR r.status <> 'complete'
RETURN m.model_id AS model_id
ORDER BY model_id

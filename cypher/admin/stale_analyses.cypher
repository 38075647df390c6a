// name: admin/stale_analyses
// answers: Which analyses are not the current analysis of their run (interrupted or superseded)?
// params: before_ms:int
MATCH (a:Analysis)
WHERE coalesce(a.updated_ms, 0) <= $before_ms
OPTIONAL MATCH (r:Run {run_id: a.run_id})
WITH a, r
WHERE r IS NULL OR a.status <> 'complete' OR coalesce(r.analysis_id, '') <> a.analysis_id
RETURN a.analysis_id AS analysis_id
ORDER BY analysis_id

// name: admin/incomplete_runs
// answers: Which runs were left incomplete (by a crash or an interrupted write) for longer than a given age?
// params: before_ms:int
MATCH (r:Run)
WHERE r.status <> 'complete' AND coalesce(r.updated_ms, 0) <= $before_ms
RETURN r.run_id AS run_id
ORDER BY run_id

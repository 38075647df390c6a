// name: store/newest_analysed_run
// answers: The run of a model the named queries read: its newest complete run with an analysis.
// params: model_id
MATCH (r:Run {model_id: $model_id})
WHERE r.status = 'complete' AND r.analysis_id IS NOT NULL
RETURN r.run_id AS run_id
ORDER BY r.created_at DESC, r.seq DESC
LIMIT 1

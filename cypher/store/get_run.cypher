// name: store/get_run
// answers: The properties of one complete run.
// params: run_id
MATCH (r:Run {run_id: $run_id})
WHERE r.status = 'complete'
RETURN r {.*} AS run

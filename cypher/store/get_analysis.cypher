// name: store/get_analysis
// answers: The current (complete) analysis of a complete run, if any.
// params: run_id
MATCH (r:Run {run_id: $run_id})
WHERE r.status = 'complete' AND r.analysis_id IS NOT NULL
MATCH (a:Analysis {analysis_id: r.analysis_id})
WHERE a.status = 'complete'
RETURN a {.*} AS analysis

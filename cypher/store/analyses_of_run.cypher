// name: store/analyses_of_run
// answers: The ids of every analysis (current or not) of a run.
// params: run_id
MATCH (a:Analysis {run_id: $run_id})
RETURN a.analysis_id AS analysis_id

// name: queries/attribution_matrix
// answers: The NIF attribution matrix (feature x class, long form) of each model's newest analysed run
//          -- what `nifgraph compare` ranks and correlates.
// params: model_ids:list
UNWIND $model_ids AS mid
MATCH (r:Run {model_id: mid})
WHERE r.status = 'complete' AND r.analysis_id IS NOT NULL
WITH mid, r ORDER BY r.created_at DESC, r.seq DESC, r.run_id DESC
WITH mid, head(collect(r)) AS r
MATCH (a:Analysis {analysis_id: r.analysis_id})
WHERE a.status = 'complete'
MATCH (f:Neuron)-[t:ATTRIBUTION {analysis_id: a.analysis_id}]->(c:Neuron)
RETURN mid AS model_id, r.run_id AS run_id, f.idx AS feature_idx, f.name AS feature,
       c.idx AS class_idx, c.name AS class_name, t.value AS value
ORDER BY model_id, feature_idx, class_idx

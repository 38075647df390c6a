// name: queries/model_summary
// answers: One row per model (given by id): accuracy, size, and the analysis of its newest analysed run
//          (communities, modularity, prunable neurons) -- the per-model rows of `nifgraph compare`; a newer
//          run without an analysis does not hide it. With no analysed run: the newest complete run, and a
//          null analysis_id; run_id is null when the model has no complete run.
// params: model_ids:list
UNWIND $model_ids AS mid
MATCH (m:Model {model_id: mid})
WHERE m.pending IS NULL
OPTIONAL MATCH (r:Run {model_id: mid})
WHERE r.status = 'complete'
WITH m, r ORDER BY r.analysis_id IS NOT NULL DESC, r.created_at DESC, r.seq DESC, r.run_id DESC
WITH m, head(collect(r)) AS r
OPTIONAL MATCH (a:Analysis {analysis_id: r.analysis_id})
WHERE a.status = 'complete'
OPTIONAL MATCH (a)-[:HAS_RESULT]->(x:NeuronResult)
WITH m, r, a, count(x) AS n_results, count(CASE WHEN x.prunable THEN 1 END) AS n_prunable
RETURN m.model_id AS model_id, m.name AS name, m.dataset AS dataset, m.architecture AS architecture,
       m.layer_sizes AS layer_sizes, m.activations AS activations, m.feature_names AS feature_names,
       m.class_names AS class_names, m.test_accuracy AS test_accuracy,
       r.run_id AS run_id, r.estimator AS estimator, a.analysis_id AS analysis_id,
       a.n_communities AS n_communities, a.modularity AS modularity, n_results, n_prunable
ORDER BY model_id

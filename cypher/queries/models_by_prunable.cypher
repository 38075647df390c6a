// name: queries/models_by_prunable
// answers: Models ranked by the fraction of their hidden neurons that are prunable (latest analysed run),
//          with the accuracy before and after pruning.
// params: limit:int
MATCH (r:Run)
WHERE r.status = 'complete' AND r.analysis_id IS NOT NULL
WITH r ORDER BY r.created_at DESC, r.seq DESC
WITH r.model_id AS model_id, head(collect(r)) AS r
MATCH (m:Model {model_id: model_id})
WHERE m.pending IS NULL
MATCH (a:Analysis {analysis_id: r.analysis_id})
MATCH (a)-[:HAS_RESULT]->(x:NeuronResult)-[:OF_NEURON]->(:Hidden)
WITH m, r, a, count(x) AS hidden, sum(CASE WHEN x.prunable THEN 1 ELSE 0 END) AS prunable
RETURN m.model_id AS model_id, m.name AS name, m.architecture AS architecture, r.run_id AS run_id,
       hidden, prunable, toFloat(prunable) / hidden AS fraction_prunable,
       a.accuracy_before AS accuracy_before, a.accuracy_after AS accuracy_after
ORDER BY fraction_prunable DESC, model_id
LIMIT $limit

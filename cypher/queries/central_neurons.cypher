// name: queries/central_neurons
// answers: The most central neurons of a model (weighted betweenness, latest analysed run).
// params: model_id, limit:int
MATCH (r:Run {model_id: $model_id})
WHERE r.status = 'complete' AND r.analysis_id IS NOT NULL
WITH r ORDER BY r.created_at DESC, r.seq DESC LIMIT 1
MATCH (x:NeuronResult {analysis_id: r.analysis_id})-[:OF_NEURON]->(n:Neuron)
RETURN r.run_id AS run_id, n.layer AS layer, n.idx AS idx, n.name AS name, n.role AS role,
       x.betweenness AS betweenness, x.community AS community
ORDER BY betweenness IS NULL, betweenness DESC, layer, idx
LIMIT $limit

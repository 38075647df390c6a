// name: queries/prunable_neurons
// answers: Which hidden neurons of a model pass no information and can be pruned (latest analysed run)?
// params: model_id
MATCH (r:Run {model_id: $model_id})
WHERE r.status = 'complete' AND r.analysis_id IS NOT NULL
WITH r ORDER BY r.created_at DESC, r.seq DESC LIMIT 1
MATCH (x:NeuronResult {analysis_id: r.analysis_id})-[:OF_NEURON]->(n:Neuron)
WHERE x.prunable
RETURN r.run_id AS run_id, n.layer AS layer, n.idx AS idx, n.name AS name, n.dead AS dead,
       x.in_flow AS in_flow, x.out_flow AS out_flow
ORDER BY layer, idx

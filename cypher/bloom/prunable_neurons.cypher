// name: bloom/prunable_neurons
// answers: Bloom search phrase "Prunable neurons of $model_id": the model and its prunable neurons
//          (latest analysed run).
// params: model_id
MATCH (r:Run {model_id: $model_id})
WHERE r.status = 'complete' AND r.analysis_id IS NOT NULL
WITH r ORDER BY r.created_at DESC, r.seq DESC LIMIT 1
MATCH (m:Model {model_id: $model_id})-[h:HAS_NEURON]->(n:Neuron)<-[:OF_NEURON]-(x:NeuronResult {analysis_id: r.analysis_id})
WHERE x.prunable AND m.pending IS NULL
RETURN m, h, n

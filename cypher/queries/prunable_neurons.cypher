// name: queries/prunable_neurons
// answers: Which hidden neurons of a model looked empty, and which of them were verified safe to prune
//          (latest analysed run)? accuracy_drop: held-out accuracy lost by removing the neuron alone.
// params: model_id
MATCH (r:Run {model_id: $model_id})
WHERE r.status = 'complete' AND r.analysis_id IS NOT NULL
WITH r ORDER BY r.created_at DESC, r.seq DESC LIMIT 1
MATCH (x:NeuronResult {analysis_id: r.analysis_id})-[:OF_NEURON]->(n:Neuron)
WHERE x.prunable OR coalesce(x.candidate, false)
RETURN r.run_id AS run_id, n.layer AS layer, n.idx AS idx, n.name AS name, n.dead AS dead,
       x.in_flow AS in_flow, x.out_flow AS out_flow, x.prunable AS prunable,
       x.accuracy_drop AS accuracy_drop
ORDER BY layer, idx

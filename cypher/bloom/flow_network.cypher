// name: bloom/flow_network
// answers: Bloom search phrase "Flow network of $model_id above $min_norm": the NIF edges of the latest
//          complete run whose normalised value is at least min_norm (0..1).
// params: model_id, min_norm:float
MATCH (r:Run {model_id: $model_id})
WHERE r.status = 'complete'
WITH r ORDER BY r.created_at DESC, r.seq DESC LIMIT 1
MATCH (s:Neuron {model_id: $model_id})-[e:NIF {run_id: r.run_id}]->(t:Neuron)
WHERE e.value_norm >= $min_norm
RETURN s, e, t

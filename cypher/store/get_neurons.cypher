// name: store/get_neurons
// answers: The neuron table of a model, sorted by layer and index.
// params: model_id
MATCH (n:Neuron {model_id: $model_id})
RETURN n.model_id AS model_id, n.layer AS layer, n.idx AS idx, n.role AS role, n.name AS name,
       n.activation AS activation, n.mean AS mean, n.std AS std, n.zero_frac AS zero_frac,
       n.dead AS dead
ORDER BY layer, idx

// name: store/prune_neurons
// answers: Remove the neurons of a model that are not in its new neuron list (model replaced with other sizes).
// params: model_id, neuron_ids:list
MATCH (n:Neuron {model_id: $model_id})
WHERE NOT n.neuron_id IN $neuron_ids
DETACH DELETE n
RETURN count(*) AS deleted

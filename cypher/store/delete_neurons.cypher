// name: store/delete_neurons
// answers: Delete up to `limit` neurons of a model with their remaining relationships (called until 0).
// params: model_id, limit:int
MATCH (n:Neuron {model_id: $model_id})
WITH n LIMIT $limit
DETACH DELETE n
RETURN count(*) AS deleted

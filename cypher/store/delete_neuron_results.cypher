// name: store/delete_neuron_results
// answers: Delete up to `limit` per-neuron results of one analysis (called until 0).
// params: analysis_id, limit:int
MATCH (x:NeuronResult {analysis_id: $analysis_id})
WITH x LIMIT $limit
DETACH DELETE x
RETURN count(*) AS deleted

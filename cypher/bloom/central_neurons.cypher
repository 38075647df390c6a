// name: bloom/central_neurons
// answers: Bloom search phrase "Central neurons of $model_id": the ten neurons of highest betweenness
//          (latest analysed run) and the NIF edges between them.
// params: model_id
MATCH (r:Run {model_id: $model_id})
WHERE r.status = 'complete' AND r.analysis_id IS NOT NULL
WITH r ORDER BY r.created_at DESC, r.seq DESC LIMIT 1
MATCH (x:NeuronResult {analysis_id: r.analysis_id})-[:OF_NEURON]->(n:Neuron)
WITH r, n, x.betweenness AS score ORDER BY score IS NULL, score DESC LIMIT 10
WITH r, collect(n) AS top
UNWIND top AS n
OPTIONAL MATCH (n)-[e:NIF {run_id: r.run_id}]->(t:Neuron)
WHERE t IN top
RETURN n, e, t

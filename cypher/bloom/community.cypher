// name: bloom/community
// answers: Bloom search phrase "Community $community of $model_id": the neurons of one community (latest
//          analysed run) and the NIF edges inside it.
// params: model_id, community:int
MATCH (r:Run {model_id: $model_id})
WHERE r.status = 'complete' AND r.analysis_id IS NOT NULL
WITH r ORDER BY r.created_at DESC, r.seq DESC LIMIT 1
MATCH (x:NeuronResult {analysis_id: r.analysis_id, community: $community})-[:OF_NEURON]->(n:Neuron)
WITH r, collect(n) AS members
UNWIND members AS n
OPTIONAL MATCH (n)-[e:NIF {run_id: r.run_id}]->(t:Neuron)
WHERE t IN members
RETURN n, e, t

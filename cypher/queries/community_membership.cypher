// name: queries/community_membership
// answers: Which neurons form each community of a model (latest analysed run)?
// params: model_id
MATCH (r:Run {model_id: $model_id})
WHERE r.status = 'complete' AND r.analysis_id IS NOT NULL
WITH r ORDER BY r.created_at DESC, r.seq DESC LIMIT 1
MATCH (x:NeuronResult {analysis_id: r.analysis_id})-[:OF_NEURON]->(n:Neuron)
WITH r, x.community AS community, n ORDER BY n.layer, n.idx
RETURN r.run_id AS run_id, community, count(n) AS size, collect(n.name) AS members
ORDER BY community

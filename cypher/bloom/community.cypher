// name: bloom/community
// answers: Bloom search phrase "Community $community of $model_id, top $k edges per neuron": the neurons
//          of one community (latest analysed run) and, for each, its $k strongest NIF edges to other
//          members; at most 5,000 rows.
// params: model_id, community:int, k:int
MATCH (r:Run {model_id: $model_id})
WHERE r.status = 'complete' AND r.analysis_id IS NOT NULL
WITH r ORDER BY r.created_at DESC, r.seq DESC LIMIT 1
MATCH (x:NeuronResult {analysis_id: r.analysis_id, community: $community})-[:OF_NEURON]->(n:Neuron)
CALL (n, r) {
  OPTIONAL MATCH (n)-[e:NIF {run_id: r.run_id}]->(t:Neuron)<-[:OF_NEURON]-(:NeuronResult {analysis_id: r.analysis_id, community: $community})
  RETURN e, t ORDER BY e.value DESC, t.idx LIMIT $k
}
RETURN n, e, t
LIMIT 5000

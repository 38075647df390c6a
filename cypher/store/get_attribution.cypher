// name: store/get_attribution
// answers: The attribution matrix of one analysis in long form (feature index, class index, value).
// params: analysis_id
MATCH (f:Neuron)-[t:ATTRIBUTION {analysis_id: $analysis_id}]->(c:Neuron)
RETURN f.idx AS feature_idx, c.idx AS class_idx, t.value AS value
ORDER BY feature_idx, class_idx

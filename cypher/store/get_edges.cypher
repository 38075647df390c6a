// name: store/get_edges
// answers: The edge table of a complete run, sorted by source layer, source index, target index.
// params: run_id
MATCH (r:Run {run_id: $run_id})
WHERE r.status = 'complete'
MATCH (s:Neuron)-[e:NIF {run_id: $run_id}]->(d:Neuron)
RETURN s.layer AS src_layer, s.idx AS src_idx, d.layer AS dst_layer, d.idx AS dst_idx,
       e.value AS value, e.relevance AS relevance, e.redundancy AS redundancy,
       e.value_norm AS value_norm, e.cost AS cost, e.p_value AS p_value, e.q_value AS q_value,
       e.ci_low AS ci_low, e.ci_high AS ci_high
ORDER BY src_layer, src_idx, dst_idx

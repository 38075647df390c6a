// name: store/old_run_edges
// answers: The edges of a run written before schema version 2 (every statistic on the relationship),
//          whatever its status, as one row of columns (missing property: NaN): what the migration
//          moves into NIFColumns nodes.
// params: run_id
MATCH (s:Neuron)-[e:NIF {run_id: $run_id}]->(d:Neuron)
RETURN collect(s.layer) AS src_layer, collect(s.idx) AS src_idx,
       collect(d.layer) AS dst_layer, collect(d.idx) AS dst_idx,
       collect(coalesce(e.value, NaN)) AS value, collect(coalesce(e.relevance, NaN)) AS relevance,
       collect(coalesce(e.redundancy, NaN)) AS redundancy,
       collect(coalesce(e.value_norm, NaN)) AS value_norm, collect(coalesce(e.cost, NaN)) AS cost,
       collect(coalesce(e.p_value, NaN)) AS p_value, collect(coalesce(e.q_value, NaN)) AS q_value,
       collect(coalesce(e.ci_low, NaN)) AS ci_low, collect(coalesce(e.ci_high, NaN)) AS ci_high

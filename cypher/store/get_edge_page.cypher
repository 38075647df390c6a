// name: store/get_edge_page
// answers: One page of a complete run's edge table (Store.iter_edges): the edges whose source is a
//          neuron of layer `layer` with index from `from_idx` to `to_idx` (inclusive), as one row of
//          aligned lists like store/get_edges (the ends and the relationship's statistics, a missing
//          property NaN; unsorted), and with `with_columns` the entries of the run's NIFColumns nodes
//          for the same edges (`blocks`: per node its ends and the secondary columns it stores, null
//          where it stores none). `complete` is false when the run is missing or not complete;
//          `updated_ms` lets the store see that the run did not change between pages. One record.
// params: run_id, layer:int, from_idx:int, to_idx:int, with_columns:bool
OPTIONAL MATCH (r:Run {run_id: $run_id})
WHERE r.status = 'complete'
CALL (r) {
  MATCH (s:Neuron {model_id: r.model_id, layer: $layer})
  WHERE s.idx >= $from_idx AND s.idx <= $to_idx
  MATCH (s)-[e:NIF {run_id: r.run_id}]->(d:Neuron)
  RETURN collect(s.idx) AS src_idx, collect(d.layer) AS dst_layer, collect(d.idx) AS dst_idx,
         collect(coalesce(e.value, NaN)) AS value, collect(coalesce(e.value_norm, NaN)) AS value_norm,
         collect(coalesce(e.q_value, NaN)) AS q_value
}
CALL (r) {
  MATCH (c:NIFColumns {run_id: r.run_id})
  WHERE $with_columns
  WITH c, [i IN range(0, size(c.src_idx) - 1)
           WHERE c.src_layer[i] = $layer AND c.src_idx[i] >= $from_idx AND c.src_idx[i] <= $to_idx] AS keep
  WHERE size(keep) > 0
  WITH c, keep ORDER BY c.seq
  RETURN collect({
    src_layer: [i IN keep | c.src_layer[i]], src_idx: [i IN keep | c.src_idx[i]],
    dst_layer: [i IN keep | c.dst_layer[i]], dst_idx: [i IN keep | c.dst_idx[i]],
    relevance: CASE WHEN c.relevance IS NULL THEN null ELSE [i IN keep | c.relevance[i]] END,
    redundancy: CASE WHEN c.redundancy IS NULL THEN null ELSE [i IN keep | c.redundancy[i]] END,
    cost: CASE WHEN c.cost IS NULL THEN null ELSE [i IN keep | c.cost[i]] END,
    p_value: CASE WHEN c.p_value IS NULL THEN null ELSE [i IN keep | c.p_value[i]] END,
    ci_low: CASE WHEN c.ci_low IS NULL THEN null ELSE [i IN keep | c.ci_low[i]] END,
    ci_high: CASE WHEN c.ci_high IS NULL THEN null ELSE [i IN keep | c.ci_high[i]] END
  }) AS blocks
}
RETURN r IS NOT NULL AS complete, r.updated_ms AS updated_ms, src_idx, dst_layer, dst_idx, value, value_norm,
       q_value, blocks

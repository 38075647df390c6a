// name: store/get_edges
// answers: The edge table of a complete run as one row: the relationships' ends and statistics as
//          columns (one list per column, aligned; a missing property is NaN so that no list skips an
//          entry), unsorted, and `blocks`, the run's NIFColumns nodes (the secondary statistics in
//          columns, keyed by the edges' ends). The store joins the two on the edges' ends and sorts by
//          source layer, source index, target index. One record, one transaction.
// params: run_id
OPTIONAL MATCH (r:Run {run_id: $run_id})
WHERE r.status = 'complete'
CALL (r) {
  MATCH (c:NIFColumns {run_id: r.run_id})
  WITH c ORDER BY c.seq
  RETURN collect(c {.*}) AS blocks
}
CALL (r) {
  MATCH (s:Neuron)-[e:NIF {run_id: r.run_id}]->(d:Neuron)
  RETURN collect(s.layer) AS src_layer, collect(s.idx) AS src_idx,
         collect(d.layer) AS dst_layer, collect(d.idx) AS dst_idx,
         collect(coalesce(e.value, NaN)) AS value, collect(coalesce(e.value_norm, NaN)) AS value_norm,
         collect(coalesce(e.q_value, NaN)) AS q_value
}
RETURN src_layer, src_idx, dst_layer, dst_idx, value, value_norm, q_value, blocks

// name: queries/top_edges
// answers: The strongest NIF edges of a model's newest complete run, browsable at 10^6 edges: the $k
//          strongest outgoing edges of every neuron, only the significant ones (q_value <= $alpha) when
//          the run has a permutation null (alpha is ignored for a run without one), strongest first,
//          at most $limit rows. rank: 1 for a neuron's strongest edge.
// params: model_id, k:int, alpha:float, limit:int
MATCH (r:Run {model_id: $model_id})
WHERE r.status = 'complete'
WITH r ORDER BY r.created_at DESC, r.seq DESC LIMIT 1
MATCH (s:Neuron {model_id: $model_id})
CALL (s, r) {
  MATCH (s)-[e:NIF {run_id: r.run_id}]->(t:Neuron)
  WHERE e.value IS NOT NULL
    AND (NOT coalesce(r.significance, e.q_value IS NOT NULL) OR e.q_value <= $alpha)
  WITH e, t ORDER BY e.value DESC, t.idx LIMIT $k
  RETURN collect([e, t]) AS best
}
UNWIND range(0, size(best) - 1) AS i
WITH r, s, best[i][0] AS e, best[i][1] AS t, i + 1 AS rank
RETURN r.run_id AS run_id, s.layer AS src_layer, s.idx AS src_idx, s.name AS src_name,
       t.layer AS dst_layer, t.idx AS dst_idx, t.name AS dst_name, rank,
       e.value AS value, e.value_norm AS value_norm, e.q_value AS q_value
ORDER BY value DESC, src_layer, src_idx, dst_idx
LIMIT $limit

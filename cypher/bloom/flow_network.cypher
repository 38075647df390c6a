// name: bloom/flow_network
// answers: Bloom search phrase "Flow network of $model_id: top $k per neuron above $min_norm, q <= $alpha":
//          the $k strongest outgoing NIF edges of every neuron (latest complete run) whose normalised
//          value is at least min_norm (0..1) and, when the run has a permutation null, whose q_value is
//          at most alpha; at most 5,000 edges, strongest first (a scene Bloom can still draw).
// params: model_id, k:int, min_norm:float, alpha:float
MATCH (r:Run {model_id: $model_id})
WHERE r.status = 'complete'
WITH r ORDER BY r.created_at DESC, r.seq DESC LIMIT 1
MATCH (s:Neuron {model_id: $model_id})
CALL (s, r) {
  MATCH (s)-[e:NIF {run_id: r.run_id}]->(t:Neuron)
  WHERE e.value_norm >= $min_norm
    AND (NOT coalesce(r.significance, e.q_value IS NOT NULL) OR e.q_value <= $alpha)
  RETURN e, t ORDER BY e.value DESC, t.idx LIMIT $k
}
RETURN s, e, t
ORDER BY e.value DESC
LIMIT 5000

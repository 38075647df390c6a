// name: gds/attribution_step
// answers: One layer step of the attribution product: given, per input feature, a score vector over the
//          neurons of `layer`, the score vector over layer + 1 (sum over edges of score * NIF value).
//          Repeated once per layer it gives mats[0] @ mats[1] @ ... without expanding any path.
// params: model_id, run_id, alpha:float, layer:int, state:list
UNWIND $state AS row
WITH row.idx AS i, collect(row) AS fs
MATCH (s:Neuron {model_id: $model_id, layer: $layer, idx: i})-[e:NIF {run_id: $run_id}]->(t:Neuron)
WHERE e.value > 0 AND ($alpha IS NULL OR e.q_value <= $alpha)
UNWIND fs AS f
RETURN f.feature_idx AS feature_idx, t.idx AS idx, sum(f.score * e.value) AS score

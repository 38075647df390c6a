// name: gds/dag_attribution_step
// answers: One layer of a DAG model's attribution: given, per input feature, its score on every neuron of
//          the layers that feed `layer` directly (state rows name their layer; skip paths included), the
//          score on every neuron of `layer` (sum over the edges from all of them of score * NIF value).
//          Called once per layer in topological order it gives, for every input feature and class, the sum
//          over all paths of the product of NIF values, without expanding any path.
// params: model_id, run_id, alpha:float, layer:int, state:list
UNWIND $state AS row
WITH row.layer AS l, row.idx AS i, collect(row) AS fs
MATCH (s:Neuron {model_id: $model_id, layer: l, idx: i})-[e:NIF {run_id: $run_id}]->(t:Neuron {model_id: $model_id, layer: $layer})
WHERE e.value > 0 AND ($alpha IS NULL OR e.q_value <= $alpha)
UNWIND fs AS f
RETURN f.feature_idx AS feature_idx, t.idx AS idx, sum(f.score * e.value) AS score

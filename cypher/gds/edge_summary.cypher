// name: gds/edge_summary
// answers: How many edges does a run have, how many carry information (after the optional q-value
//          filter), how many have significance values, and how many have no value (NaN is stored as
//          a missing property: a failed estimate)?
// params: model_id, run_id, alpha:float
MATCH (:Neuron {model_id: $model_id})-[e:NIF {run_id: $run_id}]->(:Neuron)
RETURN count(e) AS n_edges,
       sum(CASE WHEN e.value > 0 AND ($alpha IS NULL OR e.q_value <= $alpha) THEN 1 ELSE 0 END) AS n_kept,
       count(e.q_value) AS n_with_q,
       count(e) - count(e.value) AS n_missing

// name: gds/neuron_flows
// answers: Per neuron of a model, the sum and the maximum of its incoming and outgoing NIF in one run
//          (edges failing the optional q-value filter count as 0), with its dead flag and role.
// params: model_id, run_id, alpha:float
MATCH (n:Neuron {model_id: $model_id})
OPTIONAL MATCH (n)-[o:NIF {run_id: $run_id}]->(:Neuron)
WITH n, CASE WHEN o IS NOT NULL AND ($alpha IS NULL OR o.q_value <= $alpha) THEN o.value ELSE 0.0 END AS ov
WITH n, sum(ov) AS out_flow, max(ov) AS max_out
OPTIONAL MATCH (:Neuron)-[i:NIF {run_id: $run_id}]->(n)
WITH n, out_flow, max_out,
     CASE WHEN i IS NOT NULL AND ($alpha IS NULL OR i.q_value <= $alpha) THEN i.value ELSE 0.0 END AS iv
WITH n, out_flow, max_out, sum(iv) AS in_flow, max(iv) AS max_in
RETURN n.layer AS layer, n.idx AS idx, n.role AS role, coalesce(n.dead, false) AS dead,
       in_flow, out_flow, coalesce(max_in, 0.0) AS max_in, coalesce(max_out, 0.0) AS max_out
ORDER BY layer, idx

// name: gds/project_directed
// answers: Project one run of one model into GDS as a directed graph weighted by cost = 1 - ln(value /
//          max value of its layer pair) (zero edges dropped), for betweenness: the local engine's cost
//          (a layer pair is a source and a target layer: a DAG model's skip pairs have their own maximum).
//          The + 1 keeps every cost positive: GDS betweenness is defined for positive weights, and its
//          Dijkstra drops equal-cost paths through zero-cost edges (ties). Every path between two
//          neurons of a chain has the same number of edges, so the shift changes no shortest path;
//          on a DAG with skips it is one unit of cost per hop, as in the local DAG engine. Filters model and run inside the projection; GDS loads only numeric properties.
// params: graph_name, model_id, run_id, alpha:float
MATCH (s:Neuron {model_id: $model_id})-[e:NIF {run_id: $run_id}]->(t:Neuron)
WHERE e.value > 0 AND ($alpha IS NULL OR e.q_value <= $alpha)
WITH s.layer AS layer, t.layer AS to_layer, max(e.value) AS top
MATCH (s:Neuron {model_id: $model_id, layer: layer})-[e:NIF {run_id: $run_id}]->(t:Neuron {layer: to_layer})
WHERE e.value > 0 AND ($alpha IS NULL OR e.q_value <= $alpha)
WITH s, t, e.value AS value, 1.0 - log(e.value / top) AS cost
RETURN gds.graph.project($graph_name, s, t, {
  sourceNodeProperties: {layer: s.layer, idx: s.idx},
  targetNodeProperties: {layer: t.layer, idx: t.idx},
  relationshipProperties: {cost: cost, value: value}
}) AS g

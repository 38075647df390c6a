// name: gds/project_undirected
// answers: Project one run of one model into GDS as an undirected graph weighted by the raw NIF value
//          in nats (zero edges dropped), for Louvain / Leiden (Leiden requires undirected).
// params: graph_name, model_id, run_id, alpha:float
MATCH (s:Neuron {model_id: $model_id})-[e:NIF {run_id: $run_id}]->(t:Neuron)
WHERE e.value > 0 AND ($alpha IS NULL OR e.q_value <= $alpha)
WITH s, t, e.value AS value
RETURN gds.graph.project($graph_name, s, t, {
  sourceNodeProperties: {layer: s.layer, idx: s.idx},
  targetNodeProperties: {layer: t.layer, idx: t.idx},
  relationshipProperties: {value: value}
}, {undirectedRelationshipTypes: ['*']}) AS g

// name: gds/community_strengths
// answers: Per community, the total strength (weighted degree) of its neurons and the weight of the edges
//          inside it -- everything modularity needs, aggregated in the database.
// params: model_id, run_id, alpha:float, membership:map
MATCH (s:Neuron {model_id: $model_id})-[e:NIF {run_id: $run_id}]->(t:Neuron)
WHERE e.value > 0 AND ($alpha IS NULL OR e.q_value <= $alpha)
WITH $membership[s.neuron_id] AS a, $membership[t.neuron_id] AS b, e.value AS w
UNWIND [[a, w, CASE WHEN a = b THEN w ELSE 0.0 END], [b, w, 0.0]] AS part
RETURN part[0] AS community, sum(part[1]) AS strength, sum(part[2]) AS internal
ORDER BY community

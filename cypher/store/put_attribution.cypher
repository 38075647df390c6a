// name: store/put_attribution
// answers: Write one batch of attribution entries as (:Feature)-[:ATTRIBUTION]->(:Class) relationships.
// params: analysis_id, run_id, rows:list
UNWIND $rows AS row
MATCH (f:Neuron {neuron_id: row.src})
MATCH (c:Neuron {neuron_id: row.dst})
MERGE (f)-[t:ATTRIBUTION {analysis_id: $analysis_id}]->(c)
SET t.run_id = $run_id, t.value = row.value
RETURN count(t) AS written

// name: store/put_edges
// answers: Write one batch of NIF edges of a run (MERGE on source, target and run id: idempotent).
// params: run_id, rows:list
UNWIND $rows AS row
MATCH (s:Neuron {neuron_id: row.src})
MATCH (d:Neuron {neuron_id: row.dst})
MERGE (s)-[e:NIF {run_id: $run_id}]->(d)
SET e += row.props
RETURN count(e) AS written

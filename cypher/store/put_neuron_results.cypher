// name: store/put_neuron_results
// answers: Write one batch of per-neuron analysis results (betweenness, community, flows, prunable).
// params: analysis_id, run_id, rows:list
MATCH (a:Analysis {analysis_id: $analysis_id})
UNWIND $rows AS row
MATCH (n:Neuron {neuron_id: row.neuron_id})
MERGE (x:NeuronResult {analysis_id: $analysis_id, neuron_id: row.neuron_id})
SET x += row.props, x.run_id = $run_id
MERGE (a)-[:HAS_RESULT]->(x)
MERGE (x)-[:OF_NEURON]->(n)
RETURN count(x) AS written

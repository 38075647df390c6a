// name: store/put_neurons
// answers: Write one batch of neurons of a model, with their role label (Feature, Hidden or Class).
// params: model_id, rows:list
MATCH (m:Model {model_id: $model_id})
UNWIND $rows AS row
MERGE (n:Neuron {neuron_id: row.neuron_id})
SET n += row.props
REMOVE n:Feature:Hidden:Class
MERGE (m)-[:HAS_NEURON]->(n)
FOREACH (_ IN CASE WHEN row.props.role = 'input' THEN [1] ELSE [] END | SET n:Feature)
FOREACH (_ IN CASE WHEN row.props.role = 'hidden' THEN [1] ELSE [] END | SET n:Hidden)
FOREACH (_ IN CASE WHEN row.props.role = 'output' THEN [1] ELSE [] END | SET n:Class)
RETURN count(*) AS written

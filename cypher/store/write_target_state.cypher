// name: store/write_target_state
// answers: Do a model (hidden or not), its neurons and a run still exist? Asked when a run's
//          edges did not all find their neurons: another process (`db repair`, `delete`) may have
//          deleted them while the run was being written.
// params: model_id, run_id
OPTIONAL MATCH (m:Model {model_id: $model_id})
WITH count(m) AS models
OPTIONAL MATCH (n:Neuron {model_id: $model_id})
WITH models, count(n) AS neurons
OPTIONAL MATCH (r:Run {run_id: $run_id})
RETURN models, neurons, count(r) AS runs

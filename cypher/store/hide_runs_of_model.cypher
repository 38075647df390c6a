// name: store/hide_runs_of_model
// answers: Mark every run of a model as being deleted (invisible), and list them.
// params: model_id
MATCH (r:Run {model_id: $model_id})
SET r.status = 'deleting'
RETURN r.run_id AS run_id

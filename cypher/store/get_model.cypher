// name: store/get_model
// answers: The properties of one model.
// params: model_id
MATCH (m:Model {model_id: $model_id})
RETURN m {.*} AS model

// name: store/get_model
// answers: The properties of one model (not one still waiting for its first run).
// params: model_id
MATCH (m:Model {model_id: $model_id})
WHERE m.pending IS NULL
RETURN m {.*} AS model

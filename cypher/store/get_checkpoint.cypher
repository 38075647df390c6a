// name: store/get_checkpoint
// answers: The checkpoint bytes of one model (no row when it has none).
// params: model_id
MATCH (c:Checkpoint {model_id: $model_id})
RETURN c.data AS data

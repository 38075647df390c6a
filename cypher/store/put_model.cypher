// name: store/put_model
// answers: Insert or update one model node (properties in snake_case, dicts as JSON strings).
// params: model:map, seq:int
MERGE (m:Model {model_id: $model.model_id})
ON CREATE SET m.seq = $seq
SET m += $model
RETURN m.model_id AS model_id

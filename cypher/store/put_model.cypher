// name: store/put_model
// answers: Insert or update one model node (properties in snake_case, dicts as JSON strings).
//          pending: the run id a new model waits for (put_model_with_run: the model stays
//          invisible until store/complete_run of that run publishes it), null to publish it now.
//          A model that is already visible stays visible.
// params: model:map, seq:int, pending, now_ms:int
MERGE (m:Model {model_id: $model.model_id})
ON CREATE SET m.seq = $seq, m.pending = $pending
ON MATCH SET m.pending = CASE WHEN m.pending IS NULL THEN null ELSE $pending END
SET m += $model, m.updated_ms = $now_ms
RETURN m.model_id AS model_id

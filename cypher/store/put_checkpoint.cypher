// name: store/put_checkpoint
// answers: Store (or replace) the checkpoint of one model: the bytes of its nifgraph checkpoint file.
// params: model_id, data
MERGE (c:Checkpoint {model_id: $model_id})
SET c.data = $data
RETURN c.model_id AS model_id

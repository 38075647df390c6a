// name: store/delete_checkpoint
// answers: Delete the checkpoint of one model.
// params: model_id
MATCH (c:Checkpoint {model_id: $model_id})
DELETE c
RETURN count(*) AS deleted

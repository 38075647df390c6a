// name: store/delete_model_node
// answers: Delete a model node (after its runs and neurons are gone).
// params: model_id
MATCH (m:Model {model_id: $model_id})
DETACH DELETE m
RETURN count(*) AS deleted

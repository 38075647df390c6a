// name: store/list_models
// answers: Every model, oldest first.
// params: none
MATCH (m:Model)
RETURN m {.*} AS model
ORDER BY m.created_at, m.seq, m.model_id

// name: store/list_models
// answers: Every model, oldest first (not those still waiting for their first run).
// params: none
MATCH (m:Model)
WHERE m.pending IS NULL
RETURN m {.*} AS model
ORDER BY m.created_at, m.seq, m.model_id

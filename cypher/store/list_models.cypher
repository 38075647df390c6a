// name: store/list_models
// answers: Every model, oldest first (not those still waiting for their first run): by created_at,
//          then id, as the embedded store orders them (a copy keeps both, not the write order).
// params: none
MATCH (m:Model)
WHERE m.pending IS NULL
RETURN m {.*} AS model
ORDER BY m.created_at, m.model_id

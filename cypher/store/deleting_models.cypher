// name: store/deleting_models
// answers: Which models were being deleted when the deletion was interrupted (hidden with pending
//          'deleting', partly deleted)? `nifgraph delete` and `nifgraph db repair` finish them.
// params: none
MATCH (m:Model)
WHERE m.pending = 'deleting'
RETURN m.model_id AS model_id, m.name AS name
ORDER BY model_id

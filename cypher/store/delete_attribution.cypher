// name: store/delete_attribution
// answers: Delete up to `limit` attribution relationships of one analysis (called until 0).
// params: analysis_id, limit:int
MATCH ()-[t:ATTRIBUTION {analysis_id: $analysis_id}]->()
WITH t LIMIT $limit
DELETE t
RETURN count(*) AS deleted

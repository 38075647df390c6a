// name: store/delete_run_edges
// answers: Delete up to `limit` NIF edges of a run (called until it returns 0).
// params: run_id, limit:int
MATCH ()-[e:NIF {run_id: $run_id}]->()
WITH e LIMIT $limit
DELETE e
RETURN count(*) AS deleted

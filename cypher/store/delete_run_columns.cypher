// name: store/delete_run_columns
// answers: Delete up to `limit` NIFColumns nodes of a run whose seq is at least `from_seq` (0: all of
//          them; called until it returns 0).
// params: run_id, from_seq:int, limit:int
MATCH (c:NIFColumns {run_id: $run_id})
WHERE c.seq >= $from_seq
WITH c LIMIT $limit
DELETE c
RETURN count(*) AS deleted

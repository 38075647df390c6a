// name: store/strip_edge_props
// answers: Remove the secondary statistics (now in NIFColumns nodes) from up to `limit` NIF
//          relationships of a migrated run (called until it returns 0; removing nothing is harmless).
// params: run_id, limit:int
MATCH ()-[e:NIF {run_id: $run_id}]->()
WHERE e.relevance IS NOT NULL OR e.redundancy IS NOT NULL OR e.cost IS NOT NULL OR e.p_value IS NOT NULL
   OR e.ci_low IS NOT NULL OR e.ci_high IS NOT NULL
WITH e LIMIT $limit
REMOVE e.relevance, e.redundancy, e.cost, e.p_value, e.ci_low, e.ci_high
RETURN count(*) AS deleted

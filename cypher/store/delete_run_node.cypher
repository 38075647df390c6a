// name: store/delete_run_node
// answers: Delete a run node (after its edges and analyses are gone).
// params: run_id
MATCH (r:Run {run_id: $run_id})
DETACH DELETE r
RETURN count(*) AS deleted

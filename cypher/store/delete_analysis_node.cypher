// name: store/delete_analysis_node
// answers: Delete an analysis node (after its results and attribution are gone).
// params: analysis_id
MATCH (a:Analysis {analysis_id: $analysis_id})
DETACH DELETE a
RETURN count(*) AS deleted

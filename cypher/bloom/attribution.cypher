// name: bloom/attribution
// answers: Bloom search phrase "Attribution of $model_id": every input feature linked to every class by
//          its attribution (latest analysed run).
// params: model_id
MATCH (r:Run {model_id: $model_id})
WHERE r.status = 'complete' AND r.analysis_id IS NOT NULL
WITH r ORDER BY r.created_at DESC, r.seq DESC LIMIT 1
MATCH (f:Feature)-[t:ATTRIBUTION {analysis_id: r.analysis_id}]->(c:Class)
RETURN f, t, c

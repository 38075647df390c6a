// name: queries/models_by_accuracy
// answers: Models ranked by held-out test accuracy, with their number of complete runs.
// params: limit:int
MATCH (m:Model)
WHERE m.pending IS NULL
OPTIONAL MATCH (r:Run {model_id: m.model_id})
WHERE r.status = 'complete'
RETURN m.model_id AS model_id, m.name AS name, m.dataset AS dataset,
       m.architecture AS architecture, m.test_accuracy AS test_accuracy,
       m.train_accuracy AS train_accuracy, count(r) AS runs
ORDER BY test_accuracy IS NULL, test_accuracy DESC, model_id
LIMIT $limit

// name: bloom/models_by_accuracy
// answers: Bloom search phrase "Best models": the 25 models of highest test accuracy.
// params: none
MATCH (m:Model)
WHERE m.pending IS NULL
RETURN m
ORDER BY m.test_accuracy IS NULL, m.test_accuracy DESC
LIMIT 25

// name: admin/counts
// answers: How many models, complete runs and incomplete runs does the database hold?
// params: none
OPTIONAL MATCH (m:Model)
WITH count(m) AS models
OPTIONAL MATCH (r:Run)
RETURN models,
       sum(CASE WHEN r.status = 'complete' THEN 1 ELSE 0 END) AS runs,
       sum(CASE WHEN r IS NOT NULL AND r.status <> 'complete' THEN 1 ELSE 0 END) AS incomplete_runs

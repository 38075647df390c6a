// name: admin/counts
// answers: How many models, complete runs, incomplete runs and hidden models (waiting for a first
//          run) does the database hold?
// params: none
OPTIONAL MATCH (m:Model)
WITH count(m) AS all_models, count(m.pending) AS pending_models
OPTIONAL MATCH (r:Run)
RETURN all_models - pending_models AS models, pending_models,
       sum(CASE WHEN r.status = 'complete' THEN 1 ELSE 0 END) AS runs,
       sum(CASE WHEN r IS NOT NULL AND r.status <> 'complete' THEN 1 ELSE 0 END) AS incomplete_runs

// name: admin/counts
// answers: How many models, complete runs, incomplete runs and hidden models (waiting for a first
//          run, or left by an interrupted deletion) does the database hold?
// params: none
OPTIONAL MATCH (m:Model)
WITH count(m) AS all_models, count(m.pending) AS hidden,
     count(CASE WHEN m.pending = 'deleting' THEN 1 END) AS deleting_models
OPTIONAL MATCH (r:Run)
RETURN all_models - hidden AS models, hidden - deleting_models AS pending_models, deleting_models,
       sum(CASE WHEN r.status = 'complete' THEN 1 ELSE 0 END) AS runs,
       sum(CASE WHEN r IS NOT NULL AND r.status <> 'complete' THEN 1 ELSE 0 END) AS incomplete_runs

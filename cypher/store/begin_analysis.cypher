// name: store/begin_analysis
// answers: Create a new analysis of a run under a fresh id, in status 'writing' (not yet current).
// params: analysis:map, now_ms:int
MATCH (r:Run {run_id: $analysis.run_id})
MERGE (a:Analysis {analysis_id: $analysis.analysis_id})
SET a += $analysis, a.status = 'writing', a.updated_ms = $now_ms
MERGE (r)-[:HAS_ANALYSIS]->(a)
RETURN a.analysis_id AS analysis_id

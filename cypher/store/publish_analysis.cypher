// name: store/publish_analysis
// answers: Make a fully written analysis the current one of its run (one transaction), and copy its
//          metrics onto the Neuron nodes for Bloom styling.
// params: run_id, analysis_id, now_ms:int
MATCH (r:Run {run_id: $run_id})
MATCH (a:Analysis {analysis_id: $analysis_id})
SET a.status = 'complete', a.updated_ms = $now_ms, r.analysis_id = $analysis_id
WITH a
OPTIONAL MATCH (a)-[:HAS_RESULT]->(x:NeuronResult)-[:OF_NEURON]->(n:Neuron)
FOREACH (_ IN CASE WHEN n IS NULL THEN [] ELSE [1] END |
  SET n.betweenness = x.betweenness, n.community = x.community, n.prunable = x.prunable,
      n.in_flow = x.in_flow, n.out_flow = x.out_flow, n.analysis_run_id = $run_id)
RETURN count(n) AS updated

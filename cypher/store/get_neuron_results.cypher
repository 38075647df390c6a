// name: store/get_neuron_results
// answers: Per-neuron results of one analysis, sorted by layer and index.
// params: analysis_id
MATCH (x:NeuronResult {analysis_id: $analysis_id})
RETURN x.layer AS layer, x.idx AS idx, x.betweenness AS betweenness, x.community AS community,
       x.in_flow AS in_flow, x.out_flow AS out_flow, x.prunable AS prunable,
       coalesce(x.candidate, false) AS candidate, x.accuracy_drop AS accuracy_drop
ORDER BY layer, idx

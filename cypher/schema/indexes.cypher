// name: schema/indexes
// answers: Range indexes for the lookups nifgraph makes (by model, by run, by analysis), idempotent.
// params: none
CREATE INDEX nifgraph_run_model IF NOT EXISTS
FOR (r:Run) ON (r.model_id);
CREATE INDEX nifgraph_run_status IF NOT EXISTS
FOR (r:Run) ON (r.status);
CREATE INDEX nifgraph_neuron_model IF NOT EXISTS
FOR (n:Neuron) ON (n.model_id);
CREATE INDEX nifgraph_analysis_run IF NOT EXISTS
FOR (a:Analysis) ON (a.run_id);
CREATE INDEX nifgraph_neuron_result_analysis IF NOT EXISTS
FOR (x:NeuronResult) ON (x.analysis_id);
CREATE INDEX nifgraph_nif_run IF NOT EXISTS
FOR ()-[e:NIF]-() ON (e.run_id);
CREATE INDEX nifgraph_attribution_analysis IF NOT EXISTS
FOR ()-[t:ATTRIBUTION]-() ON (t.analysis_id);
CREATE INDEX nifgraph_nif_columns_run IF NOT EXISTS
FOR (c:NIFColumns) ON (c.run_id);

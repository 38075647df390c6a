// name: schema/constraints
// answers: Uniqueness constraints of the nifgraph graph (Community Edition compatible, idempotent).
// params: none
// One statement per line group, separated by ';'. Composite IS UNIQUE works in Community
// Edition; NODE KEY is Enterprise-only and is not used.
CREATE CONSTRAINT nifgraph_model_id IF NOT EXISTS
FOR (m:Model) REQUIRE m.model_id IS UNIQUE;
CREATE CONSTRAINT nifgraph_run_id IF NOT EXISTS
FOR (r:Run) REQUIRE r.run_id IS UNIQUE;
CREATE CONSTRAINT nifgraph_neuron_id IF NOT EXISTS
FOR (n:Neuron) REQUIRE n.neuron_id IS UNIQUE;
CREATE CONSTRAINT nifgraph_neuron_key IF NOT EXISTS
FOR (n:Neuron) REQUIRE (n.model_id, n.layer, n.idx) IS UNIQUE;
CREATE CONSTRAINT nifgraph_analysis_id IF NOT EXISTS
FOR (a:Analysis) REQUIRE a.analysis_id IS UNIQUE;
CREATE CONSTRAINT nifgraph_neuron_result IF NOT EXISTS
FOR (x:NeuronResult) REQUIRE (x.analysis_id, x.neuron_id) IS UNIQUE;
CREATE CONSTRAINT nifgraph_checkpoint_id IF NOT EXISTS
FOR (c:Checkpoint) REQUIRE c.model_id IS UNIQUE;
CREATE CONSTRAINT nifgraph_nif_columns IF NOT EXISTS
FOR (c:NIFColumns) REQUIRE (c.run_id, c.seq) IS UNIQUE;
CREATE CONSTRAINT nifgraph_schema_name IF NOT EXISTS
FOR (v:NifgraphSchema) REQUIRE v.name IS UNIQUE;

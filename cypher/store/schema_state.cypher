// name: store/schema_state
// answers: Which layout the database's runs have: the schema version recorded on the NifgraphSchema
//          node (null before version 2), the runs written before version 2 (no edge_layout: every
//          statistic on the NIF relationships), and the edge layouts of the other runs.
// params: none
OPTIONAL MATCH (v:NifgraphSchema {name: 'nifgraph'})
RETURN v.version AS version,
       COLLECT { MATCH (r:Run) WHERE r.edge_layout IS NULL RETURN r.run_id } AS old_runs,
       COLLECT { MATCH (r:Run) WHERE r.edge_layout IS NOT NULL RETURN DISTINCT r.edge_layout } AS layouts

// name: store/set_run_layout
// answers: Mark a run's edges as stored in the given layout (the migration's commit point for a run:
//          from here on its statistics are read from its NIFColumns nodes).
// params: run_id, edge_layout:int
MATCH (r:Run {run_id: $run_id})
SET r.edge_layout = $edge_layout
RETURN r.run_id AS run_id

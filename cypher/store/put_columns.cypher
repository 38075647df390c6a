// name: store/put_columns
// answers: Write (or overwrite) one NIFColumns node of a run whose relationships already exist (the
//          migration to schema version 2). Idempotent: the node is keyed by (run_id, seq) and its
//          properties replaced, so a migration run twice, or by two processes, writes the same nodes.
// params: run_id, seq:int, block:map
MERGE (c:NIFColumns {run_id: $run_id, seq: $seq})
SET c = $block, c.run_id = $run_id, c.seq = $seq
RETURN c.seq AS seq

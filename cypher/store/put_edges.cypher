// name: store/put_edges
// answers: Write one batch of NIF edges of a run, in columns: the batch's neurons are matched once, by
//          their indexed neuron_id (`ids`), and every edge names its ends by position in `ids` (`src`,
//          `dst`). Each relationship carries run_id and the statistics queries filter and sort on
//          (`cols`: value, value_norm, q_value; null: property not stored); the batch's secondary
//          statistics go, as columns, onto one (:NIFColumns {run_id, seq}) node (`block`: the edges'
//          ends and the columns that differ from their defaults; see docs/neo4j.md). CREATE, not MERGE:
//          put_run deletes the run's edges and columns before writing them, so MERGE's scan of every
//          neuron pair's NIF relationships would find nothing. A batch naming a neuron that does not
//          exist writes nothing (written = 0).
// params: run_id, seq:int, ids:list, src:list, dst:list, cols:map, block:map
UNWIND range(0, size($ids) - 1) AS k
MATCH (n:Neuron {neuron_id: $ids[k]})
WITH k, n
ORDER BY k
WITH collect(n) AS ns
WHERE size(ns) = size($ids)
CREATE (c:NIFColumns {run_id: $run_id, seq: $seq})
SET c += $block
WITH ns
UNWIND range(0, size($src) - 1) AS i
WITH ns[$src[i]] AS s, ns[$dst[i]] AS d, i
CREATE (s)-[e:NIF {run_id: $run_id, value: $cols.value[i], value_norm: $cols.value_norm[i], q_value: $cols.q_value[i]}]->(d)
RETURN count(e) AS written

// name: store/put_edges
// answers: Write one batch of NIF edges of a run, in columns: the batch's neurons are matched once, by
//          their indexed neuron_id (`ids`), and every edge names its ends by position in `ids` (`src`,
//          `dst`); `cols` holds one list per edge property (null: property not stored). CREATE, not
//          MERGE: put_run deletes the run's edges before writing them, so MERGE's scan of every
//          neuron pair's NIF relationships would find nothing. A batch naming a neuron that does not
//          exist writes nothing (written = 0).
// params: run_id, ids:list, src:list, dst:list, cols:map
UNWIND range(0, size($ids) - 1) AS k
MATCH (n:Neuron {neuron_id: $ids[k]})
WITH k, n
ORDER BY k
WITH collect(n) AS ns
WHERE size(ns) = size($ids)
UNWIND range(0, size($src) - 1) AS i
WITH ns[$src[i]] AS s, ns[$dst[i]] AS d, i
CREATE (s)-[e:NIF {
  run_id: $run_id, value: $cols.value[i], relevance: $cols.relevance[i],
  redundancy: $cols.redundancy[i], value_norm: $cols.value_norm[i], cost: $cols.cost[i],
  p_value: $cols.p_value[i], q_value: $cols.q_value[i], ci_low: $cols.ci_low[i],
  ci_high: $cols.ci_high[i]
}]->(d)
RETURN count(e) AS written

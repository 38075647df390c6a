// name: queries/flow_concentration
// answers: Share of a model's total NIF carried by its strongest $top fraction of edges (0.1 = top 10 %,
//          at least one edge), in the run model_summary picks (the newest analysed, else the newest
//          complete); edges the run does not store count as 0 (a chain; a DAG model's stored edges
//          are all it counts), as in `nifgraph compare`. Null when there is no flow or an edge has
//          no value (NaN).
// params: model_ids:list, top:float
UNWIND $model_ids AS mid
MATCH (m:Model {model_id: mid})
WHERE m.pending IS NULL
MATCH (r:Run {model_id: mid})
WHERE r.status = 'complete'
WITH m, r ORDER BY r.analysis_id IS NOT NULL DESC, r.created_at DESC, r.seq DESC, r.run_id DESC
WITH m, head(collect(r)) AS r
OPTIONAL MATCH ()-[e:NIF {run_id: r.run_id}]->()
WITH m, r, e, e.value AS v
ORDER BY v DESC
// one pass: the sorted values (nulls dropped) and their counts and total by aggregation
WITH m, r, collect(v) AS vs, count(e) AS n_stored, count(v) AS n_valued, sum(v) AS total,
     count(CASE WHEN v >= 0.0 THEN 1 END) AS n_pos
// every possible edge of a chain: sum over layer pairs of n_l * n_(l+1); a DAG model (meta.dag,
// whose JSON Cypher reads only as text) counts its stored edges, as the embedded store does
WITH m, r, vs, n_stored, n_valued, total, n_pos,
     CASE WHEN m.meta CONTAINS '"dag": {"' THEN n_stored
          ELSE reduce(s = 0, i IN range(0, size(m.layer_sizes) - 2) | s + m.layer_sizes[i] * m.layer_sizes[i + 1])
     END AS n_edges
WITH m, r, vs, n_stored, n_valued, total, n_pos, n_edges, toInteger(ceil($top * n_edges)) AS k
WITH m, r, vs, n_stored, n_valued, total, n_pos, n_edges, CASE WHEN k < 1 THEN 1 ELSE k END AS k,
     n_edges - n_stored AS zeros
// the k largest of (stored values + one 0 per missing edge): vs holds the n_pos non-negative values,
// then the negative ones, in descending order; the zeros sit between them
WITH m, r, n_stored, n_valued, n_edges, k, total,
     CASE WHEN k <= n_pos THEN reduce(s = 0.0, x IN vs[0..k] | s + x)
          ELSE reduce(s = 0.0, x IN vs[0..n_pos] | s + x)
               + CASE WHEN k > n_pos + zeros THEN reduce(s = 0.0, x IN vs[n_pos..(k - zeros)] | s + x) ELSE 0.0 END
     END AS top_sum
RETURN m.model_id AS model_id, r.run_id AS run_id, n_edges, n_stored, k AS n_top, top_sum, total,
       CASE WHEN n_edges = 0 OR n_valued < n_stored OR total <= 0.0 THEN null
            ELSE top_sum / total END AS flow_concentration
ORDER BY model_id

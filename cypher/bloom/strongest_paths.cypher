// name: bloom/strongest_paths
// answers: Bloom search phrase "Strongest paths from feature $feature_idx of $model_id": the strongest
//          flow path to every class (max-product, layer by layer, latest complete run), drawn.
// params: model_id, feature_idx:int
MATCH (m:Model {model_id: $model_id})
WHERE m.pending IS NULL
MATCH (r:Run {model_id: $model_id})
WHERE r.status = 'complete'
WITH m, r ORDER BY r.created_at DESC, r.seq DESC, r.run_id DESC LIMIT 1
MATCH (t:Neuron {model_id: $model_id})
WHERE t.layer > 0
// incoming edges per target, unsorted (each carries its source layer and index; no sort of all edges)
CALL (t, r) {
  OPTIONAL MATCH (s:Neuron)-[e:NIF {run_id: r.run_id}]->(t)
  RETURN collect([s.layer, s.idx, e.value]) AS incoming
}
WITH m, r, t.layer AS layer, t.idx AS j, incoming
ORDER BY layer, j
WITH m, r, layer, collect(incoming) AS by_target
ORDER BY layer
WITH m, r, collect(by_target) AS layers
// best[l][i] = [strength, path, source] of the strongest partial path from the feature to neuron i
// of layer l (path: its [layer, idx] pairs; source: layer * 2^32 + idx); one reduce step per layer, in
// order, so a DAG model's skip edges read the layer they skip from (its layers are numbered in
// topological order); ties: the smaller source.
WITH m, r, reduce(best = [[i IN range(0, m.layer_sizes[0] - 1) |
                             CASE WHEN i = $feature_idx THEN [1.0, [[0, i]], null] ELSE [0.0, [[0, i]], null] END]],
                  by_target IN layers |
       best + [[j IN range(0, size(by_target) - 1) |
         reduce(top = [0.0, [], null], x IN by_target[j] |
           CASE WHEN x[1] IS NOT NULL AND (best[x[0]][x[1]][0] * coalesce(x[2], 0.0) > top[0]
                     OR (best[x[0]][x[1]][0] * coalesce(x[2], 0.0) = top[0] AND top[0] > 0
                         AND x[0] * 4294967296 + x[1] < top[2]))
                THEN [best[x[0]][x[1]][0] * x[2], best[x[0]][x[1]][1] + [[size(best), j]], x[0] * 4294967296 + x[1]]
                ELSE top END)]]) AS best
WITH m, r, best[size(best) - 1] AS final
UNWIND final AS best_path
WITH r, best_path
WHERE best_path[0] > 0
WITH r, best_path[1] AS path
UNWIND range(0, size(path) - 2) AS l
MATCH (a:Neuron {model_id: $model_id, layer: path[l][0], idx: path[l][1]})-[e:NIF {run_id: r.run_id}]->(b:Neuron {model_id: $model_id, layer: path[l + 1][0], idx: path[l + 1][1]})
RETURN a, e, b

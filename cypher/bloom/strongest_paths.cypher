// name: bloom/strongest_paths
// answers: Bloom search phrase "Strongest paths from feature $feature_idx of $model_id": the strongest
//          flow path to every class (max-product, layer by layer, latest complete run), drawn.
// params: model_id, feature_idx:int
MATCH (m:Model {model_id: $model_id})
WHERE m.pending IS NULL
MATCH (r:Run {model_id: $model_id})
WHERE r.status = 'complete'
WITH m, r ORDER BY r.created_at DESC, r.seq DESC LIMIT 1
MATCH (t:Neuron {model_id: $model_id})
WHERE t.layer > 0
OPTIONAL MATCH (s:Neuron)-[e:NIF {run_id: r.run_id}]->(t)
WITH m, r, t.layer AS layer, t.idx AS j, s.idx AS i, e.value AS w
ORDER BY layer, j, i
WITH m, r, layer, j, collect([i, w]) AS incoming
ORDER BY layer, j
WITH m, r, layer, collect(incoming) AS by_target
ORDER BY layer
WITH m, r, collect(by_target) AS layers
WITH r, reduce(best = [i IN range(0, m.layer_sizes[0] - 1) |
                         CASE WHEN i = $feature_idx THEN [1.0, [i]] ELSE [0.0, [i]] END],
               by_target IN layers |
       [j IN range(0, size(by_target) - 1) |
         reduce(top = [0.0, []], x IN by_target[j] |
           CASE WHEN x[0] IS NOT NULL AND best[x[0]][0] * coalesce(x[1], 0.0) > top[0]
                THEN [best[x[0]][0] * x[1], best[x[0]][1] + j]
                ELSE top END)]) AS final
UNWIND final AS best_path
WITH r, best_path
WHERE best_path[0] > 0
WITH r, best_path[1] AS path
UNWIND range(0, size(path) - 2) AS l
MATCH (a:Neuron {model_id: $model_id, layer: l, idx: path[l]})-[e:NIF {run_id: r.run_id}]->(b:Neuron {model_id: $model_id, layer: l + 1, idx: path[l + 1]})
RETURN a, e, b

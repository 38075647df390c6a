// name: queries/compare_attribution
// answers: How do two models (e.g. two seeds or architectures on one data set) rank the input features
//          by total attribution to the classes (latest analysed run of each)?
// params: model_a, model_b
UNWIND [$model_a, $model_b] AS mid
MATCH (r:Run {model_id: mid})
WHERE r.status = 'complete' AND r.analysis_id IS NOT NULL
WITH mid, r ORDER BY r.created_at DESC, r.seq DESC
WITH mid, head(collect(r)) AS r
MATCH (f:Feature)-[t:ATTRIBUTION {analysis_id: r.analysis_id}]->(:Class)
WITH mid, f.name AS feature, sum(t.value) AS total
ORDER BY mid, total DESC, feature
WITH mid, collect({feature: feature, total: total}) AS ranked
WITH collect({mid: mid, ranked: ranked}) AS per_model
WITH coalesce([p IN per_model WHERE p.mid = $model_a | p.ranked][0], []) AS ra,
     coalesce([p IN per_model WHERE p.mid = $model_b | p.ranked][0], []) AS rb
UNWIND range(0, size(ra) - 1) AS i
WITH ra[i] AS a, i + 1 AS rank_a, rb
WITH a, rank_a, [j IN range(0, size(rb) - 1) WHERE rb[j].feature = a.feature | [j + 1, rb[j].total]] AS hit
RETURN a.feature AS feature, rank_a, hit[0][0] AS rank_b,
       a.total AS attribution_a, hit[0][1] AS attribution_b
ORDER BY rank_a

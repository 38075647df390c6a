"""Ground-truth checks of the estimator and significance details a mutation audit found untested.

* KSG-1's marginal counts are strict (``|v - v_i| < eps_i``): brute force on an exact integer
  grid, and the whole estimator against an O(N²) KSG-1 written here.
* The redundancy term is β · Σ_{j<i} I(X_i; X_j) and the value is ``max(rel − β·red, 0)``:
  Gaussian closed forms (GCMI).
* The pooled permutation null leaves constant (dead) columns out.
* The half-sample interval is a *value* interval: it carries the −β·redundancy shift.
* The GCMI screen's statistic is the likelihood ratio 2N·I (χ²₁).
* Benjamini-Hochberg q-values run over all edges of the run, not per layer pair.
* The half-sample sd is the sample sd (ddof = 1).
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, ndtri
from scipy.stats import chi2, rankdata

from nifgraph import mi
from nifgraph import significance as sig
from nifgraph.mi._ksg import _count_1d
from nifgraph.nif import estimate_nif, screen_candidates


def gauss_mi(rho: float) -> float:
    """MI in nats of a bivariate normal with correlation ``rho``."""
    return -0.5 * np.log1p(-rho * rho)


def population_corr(a: np.ndarray) -> np.ndarray:
    """Correlation matrix of ``v = a @ z`` for independent standard normals ``z``."""
    cov = a @ a.T
    s = np.sqrt(np.diag(cov))
    return cov / np.outer(s, s)


def bh(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values by the textbook definition: q_(i) = min_{j ≥ i} min(1, m p_(j) / j)."""
    p = np.asarray(p, dtype=np.float64)
    m = p.size
    order = np.argsort(p, kind="stable")
    ps = p[order]
    q_sorted = np.array([min(1.0, min(m * ps[j] / (j + 1) for j in range(i, m))) for i in range(m)])
    out = np.empty(m)
    out[order] = q_sorted
    return out


# -- KSG: strict marginal counts (M03) ------------------------------------------------------
def test_count_1d_is_strict_on_an_exact_grid():
    """Integers (exact arithmetic), many ties and many points exactly at ±eps_i: those must not count."""
    rng = np.random.default_rng(3)
    col = rng.integers(0, 15, size=80).astype(np.float64)
    eps = rng.integers(1, 5, size=80).astype(np.float64)
    brute = np.array([np.sum(np.abs(col - col[i]) < eps[i]) - 1 for i in range(col.size)])
    at_edge = np.array([np.sum(np.abs(col - col[i]) == eps[i]) for i in range(col.size)])
    assert at_edge.sum() > 50  # the boundary case is exercised
    np.testing.assert_array_equal(_count_1d(np.sort(col), col, eps), brute)


def test_count_1d_matches_brute_force_with_every_eps_a_rounded_distance():
    """Real-valued columns (rounding everywhere), each eps_i the rounded distance to another sample,
    as the kd-tree gives it: the counts equal the brute-force strict ones, both bounds."""
    rng = np.random.default_rng(7)
    for trial in range(20):
        col = rng.standard_normal(200) * 10.0 ** rng.integers(-3, 3)
        other = rng.integers(0, col.size, size=col.size)
        eps = np.abs(col[other] - col)
        eps[eps == 0] = np.abs(col[(other[eps == 0] + 1) % col.size] - col[eps == 0])
        brute = np.array([np.sum(np.abs(col - col[i]) < eps[i]) - 1 for i in range(col.size)])
        np.testing.assert_array_equal(_count_1d(np.sort(col), col, eps), brute, err_msg=f"trial {trial}")


def brute_ksg1(x: np.ndarray, y: np.ndarray, k: int = 3) -> float:
    """KSG estimator 1 (Kraskov et al. 2004, Eq. 8) in O(N²): max-norm, strict marginal counts."""
    x = (x - x.mean()) / x.std()
    y = (y - y.mean()) / y.std()
    n = x.size
    dx = np.abs(x[:, None] - x[None, :])
    dy = np.abs(y[:, None] - y[None, :])
    d = np.maximum(dx, dy)
    np.fill_diagonal(d, np.inf)
    eps = np.sort(d, axis=1)[:, k - 1]  # distance to the k-th neighbour in the joint space
    nx = (dx < eps[:, None]).sum(axis=1) - 1  # others strictly closer (minus the sample itself)
    ny = (dy < eps[:, None]).sum(axis=1) - 1
    return float(digamma(k) + digamma(n) - np.mean(digamma(nx + 1) + digamma(ny + 1)))


def _ksg_pairs():
    rng = np.random.default_rng(11)
    n = 300
    x = rng.standard_normal((n, 3))
    x[:, 2] = rng.exponential(size=n)  # a skewed column too
    y = np.column_stack([0.6 * x[:, 0] + 0.8 * rng.standard_normal(n), rng.standard_normal(n)])
    est = mi.pairwise(x, y, "ksg", copula=False, k=3, seed=5, workers=1)
    ref = np.array([[max(brute_ksg1(x[:, i], y[:, j]), 0.0) for j in range(2)] for i in range(3)])
    return est, ref


def test_ksg_equals_a_brute_force_ksg1():
    """The boundary sample (the k-th neighbour, at exactly eps in one marginal) must not count:
    counting it (``<=``) lowers every estimate by ~0.05 nats here."""
    est, ref = _ksg_pairs()
    assert ref[0, 0] > 0.15  # a real dependence among the pairs
    np.testing.assert_allclose(est, ref, rtol=0, atol=4e-3)


def test_ksg_equals_a_brute_force_ksg1_to_rounding():
    """Bit for bit up to summation order: the boundary sample is excluded under the same rounded
    comparison the kd-tree used (it was counted for 2-3 % of samples before, ~1e-3 nats low)."""
    est, ref = _ksg_pairs()
    np.testing.assert_allclose(est, ref, rtol=0, atol=1e-9)


def test_count_1d_excludes_the_sample_exactly_at_eps():
    """fl(-0.62 + 0.66) = 0.040000000000000036 > 0.04: a search on col_i + eps_i counts it."""
    col = np.array([-0.62, 0.04])
    eps = np.abs(col - col[::-1])  # each sample's distance to the other: the other is at exactly eps
    np.testing.assert_array_equal(_count_1d(np.sort(col), col, eps), [0, 0])


# -- redundancy and value (M06, M07) ---------------------------------------------------------
def _redundant_layer(n: int, seed: int):
    """x0; x1 = 0.8 x0 + 0.6 e1; x2 independent; q0 = 0.8 x1 + 0.6 f0; q1 = 0.8 x2 + 0.6 f1."""
    # variables as linear maps of independent normals (g0, e1, e2, f0, f1)
    a = np.zeros((5, 5))
    a[0, 0] = 1.0
    a[1] = 0.8 * a[0]
    a[1, 1] = 0.6
    a[2, 2] = 1.0
    a[3] = 0.8 * a[1]
    a[3, 3] = 0.6
    a[4] = 0.8 * a[2]
    a[4, 4] = 0.6
    z = np.random.default_rng(seed).standard_normal((n, 5))
    v = z @ a.T
    return v[:, :3], v[:, 3:], population_corr(a)


def test_redundancy_is_beta_times_the_mi_with_earlier_inputs():
    x, q, c = _redundant_layer(20_000, seed=1)
    beta = 0.5
    nif = estimate_nif([x, q], estimator="gcmi", beta=beta, device="cpu", workers=1)
    red_true = np.array([sum(gauss_mi(c[i, j]) for j in range(i)) for i in range(3)])  # Σ_{j<i} I(x_i; x_j)
    rel_true = gauss_mi(c[:3, 3:])
    value_true = np.clip(rel_true - beta * red_true[:, None], 0.0, None)
    red, rel, val = nif.redundancy[0], nif.relevance[0], nif.values[0]
    assert red_true[1] > 0.5 and red_true[0] == 0.0  # order matters: only x1 is penalised
    np.testing.assert_allclose(red, np.repeat(red_true[:, None], 2, axis=1), atol=0.02)
    np.testing.assert_allclose(rel, rel_true, atol=0.02)
    np.testing.assert_allclose(val, value_true, atol=0.02)
    assert val[1, 1] == 0.0  # I(x1; q1) = 0 minus a penalty: clipped at 0
    np.testing.assert_allclose(val, np.clip(rel - beta * red, 0.0, None), rtol=0, atol=1e-12)


# -- the pooled null leaves dead columns out (M10) --------------------------------------------
def _layer_with_dead_column(seed: int):
    rng = np.random.default_rng(seed)
    n = 300
    x = rng.standard_normal((n, 4))
    q = np.column_stack([0.5 * x[:, 0] + rng.standard_normal(n), rng.standard_normal((n, 2))])
    x_dead = np.column_stack([x, np.full(n, 2.5)])  # a dead neuron, appended last
    return x, x_dead, q


def test_pooled_null_leaves_constant_columns_out():
    x, x_dead, q = _layer_with_dead_column(2)
    draws = 102
    k = -(-draws // 4)  # 4 live x columns face the shuffled q columns: ceil(102 / 4) = 26
    for xs in (x, x_dead):
        rel, null, extra = sig.pairwise_with_null(xs, q, "gcmi", draws, seed=4, workers=1, device="cpu")
        assert null.size == 4 * k  # live x columns × shuffled columns: none from the dead one
        assert null.min() > 0.0  # GCMI of two non-constant columns is never exactly 0
        assert extra == xs.shape[1] * k
    kw = {"estimator": "gcmi", "null": True, "null_draws": draws, "device": "cpu", "workers": 1, "seed": 3}
    plain = estimate_nif([x, q], **kw)
    dead = estimate_nif([x_dead, q], **kw)
    assert plain.significance["null_draws"] == dead.significance["null_draws"] == [4 * k]
    np.testing.assert_array_equal(dead.extras["p_value"][0][:4], plain.extras["p_value"][0])
    np.testing.assert_array_equal(dead.extras["p_value"][0][4], 1.0)
    assert dead.extras["p_value"][0][0, 0] == 1.0 / (1.0 + 4 * k)  # the planted edge beats every draw


# -- the interval carries the redundancy shift (M11) ------------------------------------------
def test_interval_is_around_the_value_with_the_redundancy_shift():
    x, q, c = _redundant_layer(2000, seed=6)
    beta = 0.5
    nif = estimate_nif([x, q], estimator="gcmi", beta=beta, null=True, null_draws=100, bootstrap=12,
                       device="cpu", workers=1, seed=2)
    val, rel, red = nif.values[0], nif.relevance[0], nif.redundancy[0]
    lo, hi = nif.extras["ci_low"][0], nif.extras["ci_high"][0]
    assert np.all(lo <= val) and np.all(val <= hi)
    # unclipped edges: the interval is value ± z·sd, symmetric about rel − β·red
    inner = lo > 0
    assert inner[1, 0] and red[1, 0] > 0.4  # the redundant input's edge is one of them
    np.testing.assert_allclose(((lo + hi) / 2)[inner], (rel - beta * red)[inner], rtol=0, atol=1e-12)
    # and it covers the closed-form value I(x1; q0) − β·I(x1; x0) of that edge
    truth = gauss_mi(c[1, 3]) - beta * gauss_mi(c[0, 1])
    assert lo[1, 0] <= truth <= hi[1, 0]


# -- the screen's statistic is 2N·I (M12) -----------------------------------------------------
def _gcmi_by_hand(x: np.ndarray, q: np.ndarray) -> np.ndarray:
    n = x.shape[0]

    def scores(a):
        z = ndtri(rankdata(a, axis=0) / (n + 1.0))
        return (z - z.mean(0)) / z.std(0)

    r = scores(x).T @ scores(q) / n
    return -0.5 * np.log1p(-r * r)


def test_screen_is_the_likelihood_ratio_test_2n_i():
    rng = np.random.default_rng(8)
    n, alpha = 400, 0.05
    x = rng.standard_normal((n, 2))
    q = rng.standard_normal((n, 500))  # independent: every edge is a null edge
    g = _gcmi_by_hand(x, q)
    crit = chi2.ppf(1 - alpha, 1)  # 3.84
    window = (n * g < crit) & (crit < 2 * n * g)  # candidates by 2N·I, not by N·I
    away = np.abs(2 * n * g - crit) > 1e-6  # leave float ties at the cut aside
    assert window.sum() >= 10
    _, cand = screen_candidates(x, q, alpha)
    np.testing.assert_array_equal(cand[away], (2 * n * g >= crit)[away])
    assert cand[window].all()
    # calibrated: about alpha of the null edges pass (N·I would pass ~0.6 %)
    assert 0.03 < cand.mean() < 0.07


# -- BH over the whole run (M37) --------------------------------------------------------------
def test_q_values_are_bh_over_every_edge_of_the_run():
    rng = np.random.default_rng(9)
    n = 400
    h0 = rng.standard_normal((n, 3))
    h1 = np.column_stack([h0[:, 0] + rng.standard_normal(n), 0.3 * h0[:, 1] + rng.standard_normal(n),
                          rng.standard_normal((n, 3))])
    h2 = np.column_stack([0.25 * h1[:, 0] + rng.standard_normal(n), rng.standard_normal(n)])
    nif = estimate_nif([h0, h1, h2], estimator="gcmi", null=True, null_draws=200, device="cpu", workers=1)
    p, qv = nif.extras["p_value"], nif.extras["q_value"]
    assert [m.size for m in p] == [15, 10]
    flat_p = np.concatenate([m.ravel() for m in p])
    flat_q = np.concatenate([m.ravel() for m in qv])
    assert (flat_p < 0.05).sum() >= 2
    np.testing.assert_allclose(flat_q, bh(flat_p), rtol=0, atol=1e-12)
    # per layer pair it would differ
    assert not np.allclose(flat_q, np.concatenate([bh(m.ravel()) for m in p]))


# -- half-sample sd is the sample sd (M31) ----------------------------------------------------
def test_interval_uses_the_sample_sd_of_the_half_samples(monkeypatch):
    reps = iter([1.0, 2.0, 4.0, 7.0])  # one constant matrix per half-sample call

    def fake_pairwise(x, y, method, **_kw):
        return np.full((x.shape[1], y.shape[1]), next(reps))

    monkeypatch.setattr(mi, "pairwise", fake_pairwise)
    rng = np.random.default_rng(0)
    acts = [rng.standard_normal((40, 2)), rng.standard_normal((40, 3))]
    rel = [np.full((2, 3), 10.0)]
    spec = sig.SignificanceSpec(bootstrap=4, ci_level=0.95)
    res = sig.assess(acts, rel, spec, estimator="gcmi")
    sd = np.sqrt(np.sum((np.array([1, 2, 4, 7]) - 3.5) ** 2) / 3)  # ddof = 1: sqrt(7)
    z = 1.959963984540054
    np.testing.assert_allclose(res.extras["ci_low"][0], 10.0 - z * sd, rtol=1e-12)
    np.testing.assert_allclose(res.extras["ci_high"][0], 10.0 + z * sd, rtol=1e-12)


def test_count_1d_jumps_runs_of_ties_at_the_bound():
    """Thousands of equal samples right at the boundary (no jitter): counted exactly, and in a
    handful of passes rather than one per tied sample."""
    col = np.concatenate([np.zeros(1), np.full(4000, 0.3), np.full(4000, 0.7)])
    eps = np.full(col.size, 0.3)  # from 0: the 0.3s are exactly at eps (out); from 0.3: 0 is at eps too
    brute = np.array([np.sum(np.abs(col - c) < e) - 1 for c, e in zip(col[:5], eps[:5], strict=True)])
    np.testing.assert_array_equal(_count_1d(np.sort(col), col, eps)[:5], brute)
    got = _count_1d(np.sort(col), col, eps)
    want = np.where(col == 0, 0, np.where(col == 0.3, 3999, 3999))  # fl(0.7-0.3) = 0.39999999999999997 > 0.3
    np.testing.assert_array_equal(got, want)

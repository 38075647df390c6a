"""Which edges carry information beyond noise (nifgraph.significance).

BH against statsmodels; permutation-null calibration on independent edges with ReLU ties
(overall and per tie class); power on planted Gaussian edges of MI 0.05 nats at N = 2000;
half-sample interval coverage; the hand-built network through the store and the CLI,
including ``nifgraph agreement`` of two runs (the agreement statistics themselves are in
``test_analysis_agreement.py``).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import binom
from statsmodels.stats.multitest import multipletests
from typer.testing import CliRunner

from nifgraph import significance as sig
from nifgraph.analysis.local import prunable
from nifgraph.errors import ValidationError
from nifgraph.network import from_module, neuron_summaries
from nifgraph.nif import estimate_nif

from .handbuilt import handbuilt_inputs, handbuilt_module, import_handbuilt

N = 2000
ALPHA = 0.05
PLANTED_MI = 0.05
RHO = float(np.sqrt(1.0 - np.exp(-2.0 * PLANTED_MI)))  # Gaussian MI = -½ ln(1 - ρ²) = 0.05
ZERO_FRACS = (0.0, 0.5, 0.9, 0.98)  # ReLU point masses at 0, as in a real hidden layer


def band(n: int, p: float = ALPHA, level: float = 0.99) -> tuple[float, float]:
    """Binomial ``level`` band for the share of n p-values below ``p``."""
    tail = (1.0 - level) / 2.0
    return binom.ppf(tail, n, p) / n, binom.ppf(1.0 - tail, n, p) / n


def relu_col(rng: np.random.Generator, zero_frac: float, n: int = N) -> np.ndarray:
    z = rng.standard_normal(n)
    return z if zero_frac == 0 else np.maximum(z - np.quantile(z, zero_frac), 0.0)


def planted_layer(n_tied_x: int, n_tied_q: int, n_planted: int, seed: int):
    """x = [independent ReLU-like columns | g], q = [independent ReLU-like | planted partners of g].

    Edge (n_tied_x + j, n_tied_q + j) has MI 0.05 nats; every other edge is independent.
    Returns x, q, planted mask (a, b), zero fractions of x and q columns.
    """
    rng = np.random.default_rng(seed)
    fx = np.array([ZERO_FRACS[i % 4] for i in range(n_tied_x)] + [0.0] * n_planted)
    fq = np.array([ZERO_FRACS[i % 4] for i in range(n_tied_q)] + [0.0] * n_planted)
    g = rng.standard_normal((N, n_planted))
    partner = RHO * g + np.sqrt(1 - RHO**2) * rng.standard_normal((N, n_planted))
    x = np.column_stack([relu_col(rng, f) for f in fx[:n_tied_x]] + [g])
    q = np.column_stack([relu_col(rng, f) for f in fq[:n_tied_q]] + [partner])
    planted = np.zeros((x.shape[1], q.shape[1]), dtype=bool)
    planted[n_tied_x + np.arange(n_planted), n_tied_q + np.arange(n_planted)] = True
    return x, q, planted, fx, fq


# -- building blocks ---------------------------------------------------------------------
def test_bh_matches_statsmodels():
    rng = np.random.default_rng(0)
    for trial in range(40):
        m = int(rng.integers(1, 600))
        p = rng.random(m) ** rng.uniform(0.5, 4.0)
        if trial % 3 == 0:  # ties, zeros and ones, as permutation p-values have
            p = np.round(p, 2)
            p[rng.random(m) < 0.1] = 1.0
        expected = multipletests(p, alpha=ALPHA, method="fdr_bh")[1]
        np.testing.assert_allclose(sig.bh_qvalues(p), expected, rtol=0, atol=1e-12)
    mat = rng.random((7, 5))  # shape is kept
    np.testing.assert_allclose(
        sig.bh_qvalues(mat).ravel(), multipletests(mat.ravel(), method="fdr_bh")[1], atol=1e-12
    )
    with pytest.raises(ValidationError):
        sig.bh_qvalues(np.array([0.1, np.nan]))


def test_permutation_pvalues_brute_force():
    rng = np.random.default_rng(1)
    null = np.sort(np.round(rng.random(300), 2))
    obs = np.concatenate([np.round(rng.random(50), 2), [0.0, 2.0]])
    brute = np.array([(1 + np.sum(null >= o)) / (1 + null.size) for o in obs])
    np.testing.assert_allclose(sig.permutation_pvalues(obs, null), brute)


def test_tie_broken_scores_share_one_marginal_and_keep_order():
    rng = np.random.default_rng(2)
    a = np.column_stack([relu_col(rng, f, 500) for f in ZERO_FRACS] + [np.full(500, 3.0)])
    z = sig.tie_broken_scores(a, seed=0)
    quantiles = np.sort(z[:, 0])
    for j in range(4):  # every non-constant column is a permutation of the same quantiles
        np.testing.assert_array_equal(np.sort(z[:, j]), quantiles)
        lt = a[:, j][:, None] < a[:, j][None, :]
        assert np.all((z[:, j][:, None] < z[:, j][None, :])[lt])  # strict order kept
    assert np.all(z[:, 4] == 0.0)  # constant stays constant (MI exactly 0)
    np.testing.assert_array_equal(z, sig.tie_broken_scores(a, seed=0))  # seeded


def test_bad_settings_are_refused():
    x = np.random.default_rng(3).standard_normal((200, 3))
    with pytest.raises(ValidationError, match="null"):
        estimate_nif([x, x], estimator="gcmi", bias_correct=True)
    with pytest.raises(ValidationError, match="null_draws"):
        estimate_nif([x, x], estimator="gcmi", null=True, null_draws=10)
    with pytest.raises(ValidationError, match="bootstrap"):
        estimate_nif([x, x], estimator="gcmi", bootstrap=1)
    with pytest.raises(ValidationError, match="pairwise"):
        estimate_nif([x, x], estimator="gcmi", variant="layer", null=True)


# -- calibration and power ----------------------------------------------------------------
@pytest.mark.parametrize(
    "estimator, opts, tied, planted, draws",
    [
        ("gcmi", {}, (40, 30), 40, 4000),
        # KSG's default k = 3 spreads ±0.02 nats at MI 0.05 (power 0.88); k = 6 halves that
        ("ksg", {"k": 6}, (20, 15), 20, 1000),
    ],
)
def test_null_calibration_and_power(estimator, opts, tied, planted, draws):
    """Null edges (ReLU ties of 0-98 % zeros): share of p < 0.05 in the 99 % binomial band,
    overall and within each tie class; planted MI-0.05 edges: p < 0.05 for ≥ 90 %."""
    x, q, plant, fx, fq = planted_layer(*tied, planted, seed=11)
    res = estimate_nif([x, q], estimator=estimator, seed=3, null=True, null_draws=draws, **opts)
    p, qv = res.extras["p_value"][0], res.extras["q_value"][0]
    null_p = p[~plant]
    assert null_p.size >= 500
    lo, hi = band(null_p.size)
    assert lo <= np.mean(null_p < ALPHA) <= hi
    heavy = (fx[:, None] >= 0.9) | (fq[None, :] >= 0.9)
    smooth = (fx[:, None] == 0) & (fq[None, :] == 0)
    for cls in (heavy, smooth):  # without tie-breaking KSG gives 0.00 and 0.16 here
        cp = p[cls & ~plant]
        lo, hi = band(cp.size)
        assert lo <= np.mean(cp < ALPHA) <= hi, (cp.size, np.mean(cp < ALPHA))
    assert np.mean(p[plant] < ALPHA) >= 0.9
    if estimator == "gcmi":  # precise enough that BH keeps them all
        assert np.mean(qv[plant] <= ALPHA) >= 0.9
    assert res.significance["null_draws"][0] >= draws


def test_mine_power_and_null_small():
    """The default estimator, small settings: planted edges survive BH; null edges mostly not."""
    x, q, plant, _, _ = planted_layer(4, 4, 10, seed=5)
    res = estimate_nif([x, q], estimator="mine", seed=0, null=True, null_draws=400, steps=300)
    p, qv = res.extras["p_value"][0], res.extras["q_value"][0]
    assert np.mean(qv[plant] <= ALPHA) >= 0.9
    assert np.mean(p[~plant] < ALPHA) <= 0.15
    assert np.mean(qv[~plant] <= ALPHA) <= 0.05


def test_bias_correction_and_half_sample_intervals():
    rng = np.random.default_rng(4)
    rhos = np.repeat([0.0, 0.1, 0.2, 0.3, 0.5, 0.7], 12)
    g = rng.standard_normal((N, rhos.size))
    h = rhos * g + np.sqrt(1 - rhos**2) * rng.standard_normal((N, rhos.size))
    true = -0.5 * np.log(1 - rhos**2)
    plain = estimate_nif([g, h], estimator="gcmi", seed=1, null=True, bootstrap=30)
    corr = estimate_nif([g, h], estimator="gcmi", seed=1, null=True, bootstrap=30, bias_correct=True)
    v, lo, hi = (np.diag(m[0]) for m in (plain.values, plain.extras["ci_low"], plain.extras["ci_high"]))
    assert np.all((lo <= v) & (v <= hi))
    assert np.mean((lo <= true) & (true <= hi)) >= 0.85  # nominal 95 %
    (shift,) = corr.significance["bias_correction"]
    assert shift == pytest.approx(plain.significance["null_mean"][0]) and shift > 0
    np.testing.assert_allclose(corr.values[0], np.clip(plain.values[0] - shift, 0, None))
    np.testing.assert_allclose(corr.extras["p_value"][0], plain.extras["p_value"][0])
    assert plain.significance["bootstrap"] == 30 and not plain.significance["bias_correct"]


# -- the hand-built network ---------------------------------------------------------------
@pytest.mark.parametrize("estimator, opts", [("ksg", {}), ("mine", {"steps": 300, "null_draws": 300})])
def test_handbuilt_network(estimator, opts):
    """Copy and mix edges are significant; every edge of the dead and the constant neuron has
    p = 1; with the non-significant edges zeroed, exactly those two neurons are prunable
    at any threshold below the real edges' flow."""
    net = from_module(handbuilt_module())
    acts = net.forward_layers(handbuilt_inputs(N))
    res = estimate_nif(acts, estimator=estimator, seed=0, null=True, **opts)
    (p0, p1), (q0, q1) = res.extras["p_value"], res.extras["q_value"]
    for i, k in [(1, 0), (0, 3), (2, 3)]:  # x1 -> copy h0; x0, x2 -> mix h3
        assert q0[i, k] <= ALPHA
    assert np.all(q1[[0, 3], :] <= ALPHA)  # h0, h3 -> outputs
    for dead_or_const in (1, 2):
        assert np.all(p0[:, dead_or_const] == 1.0) and np.all(p1[dead_or_const, :] == 1.0)
        assert np.all(q0[:, dead_or_const] == 1.0) and np.all(q1[dead_or_const, :] == 1.0)
    kept = [np.where(qm <= ALPHA, v, 0.0) for qm, v in zip(res.extras["q_value"], res.values, strict=True)]
    dead = np.concatenate([s["dead"] for s in neuron_summaries(acts)])
    for threshold in (0.0, 0.02, 0.1):
        flagged = set(np.flatnonzero(prunable(kept, dead, threshold=threshold)))
        assert flagged == {3 + 1, 3 + 2}  # flat ids of h1, h2


def _store_handbuilt(tmp_path, st):
    """The hand-built model imported into a store (standardisation folded into layer 1)."""
    return import_handbuilt(st, tmp_path, n=800)


def test_pipeline_store_cli_and_agreement(tmp_path):
    """estimate --null stores p/q and its settings; --alpha analysis flags exactly the dead and
    constant neurons; `nifgraph agreement` compares two runs with neuron names."""
    from nifgraph.cli import app
    from nifgraph.pipeline import analyze_run, estimate_run
    from nifgraph.settings import AnalysisSettings, EstimationSettings
    from nifgraph.store import open_store

    with open_store() as st:
        model = _store_handbuilt(tmp_path, st)
        run_a, _ = estimate_run(st, model.model_id, EstimationSettings.build("gcmi", null=True, bootstrap=5))
        run_b, _ = estimate_run(st, model.model_id, EstimationSettings.build("gcmi", seed=1))  # no null
        edges = st.get_edges(run_a.run_id)
        assert edges[["p_value", "q_value", "ci_low", "ci_high"]].notna().all().all()
        s = st.get_run(run_a.run_id).settings["significance"]
        assert s["null"] and min(s["null_draws"]) >= 1000 and s["bootstrap"] == 5
        for threshold in (0.0, 0.02):
            a = analyze_run(st, run_a.run_id, AnalysisSettings(alpha=ALPHA, threshold=threshold))
            assert set(a.prunable) == {(1, 1), (1, 2)} and a.accuracy_after == a.accuracy_before
        with pytest.raises(ValidationError, match="--null"):
            analyze_run(st, run_b.run_id, AnalysisSettings(alpha=ALPHA))
        mid = model.model_id

    runner = CliRunner()
    r = runner.invoke(app, ["estimate", mid, "-e", "ksg", "--null", "--null-draws", "300", "--json"],
                      catch_exceptions=False)
    assert r.exit_code == 0, r.output
    run_c = json.loads(r.stdout)["run_id"]
    assert min(json.loads(r.stdout)["run"]["settings"]["significance"]["null_draws"]) >= 300

    r = runner.invoke(app, ["agreement", run_a.run_id, run_c, "--json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    ag = json.loads(r.stdout)
    assert ag["has_decisions"] and ag["n_edges"] == 3 * 4 + 4 * 2
    assert ag["spearman"] > 0.6 and ag["decision_agreement"] >= 0.8
    for f in ag["flips"]:  # only chance edges may flip, never a real or a dead one
        assert f["src_name"] in {"x0", "x1", "x2", "h1_0", "h1_3"} and f["dst_name"] != "h1_1"
    r = runner.invoke(app, ["agreement", run_a.run_id, run_b.run_id], catch_exceptions=False)
    assert r.exit_code == 0 and "--null" in r.stdout and "Spearman" in r.stdout
    r = runner.invoke(app, ["agreement", run_a.run_id, run_c], catch_exceptions=False)
    assert r.exit_code == 0 and "decisions agree" in r.stdout

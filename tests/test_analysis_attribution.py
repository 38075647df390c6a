"""Attribution statistics against scipy and closed forms; the comparison CLI on a small model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from nifgraph.analysis import attribution as C
from nifgraph.analysis.pruning import PRUNE_METHODS
from nifgraph.errors import ValidationError
from nifgraph.nif import flow_concentration


# -- statistics against scipy -------------------------------------------------------------------
def test_ks_matches_scipy_and_reads_the_right_way():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=40), rng.normal(0.5, 1.0, size=30)
    ref = stats.ks_2samp(a, b)
    got = C.ks_test(a, b)
    assert got.statistic == pytest.approx(ref.statistic) and got.p_value == pytest.approx(ref.pvalue)
    same = C.ks_test([0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1])
    assert same.statistic == 0.0 and same.p_value == pytest.approx(1.0)  # alike: D = 0, p = 1
    apart = C.ks_test([0.0, 0.1, 0.2], [0.7, 0.8, 0.9])
    assert apart.statistic == 1.0 and apart.p_value < 0.2  # no overlap at all: D = 1


def test_spearman_and_kendall_match_scipy():
    x = np.array([[0.1, 0.5], [0.3, 0.2], [0.6, 0.3]])
    y = np.array([[0.2, 0.4], [0.1, 0.1], [0.7, 0.5]])
    sp, kt = C.spearman(x, y), C.kendall(x, y)
    ref_sp, ref_kt = stats.spearmanr(x.ravel(), y.ravel()), stats.kendalltau(x.ravel(), y.ravel())
    assert sp.statistic == pytest.approx(ref_sp.statistic) and sp.p_value == pytest.approx(ref_sp.pvalue)
    assert kt.statistic == pytest.approx(ref_kt.statistic) and kt.p_value == pytest.approx(ref_kt.pvalue)
    assert np.isnan(C.spearman([1, 1, 1], [1, 2, 3]).statistic)  # constant: undefined, not an error
    with pytest.raises(ValidationError):
        C.spearman([1, 2], [1, 2, 3])


def test_normalize_columns():
    n = C.normalize_columns(np.array([[1.0, 0.0], [3.0, 0.0], [-4.0, 0.0]]))
    assert n[:, 0] == pytest.approx([0.125, 0.375, 0.5]) and (n[:, 1] == 0).all()


def test_ks_ignores_feature_order_spearman_does_not():
    ref = np.array([[0.5, 0.1], [0.3, 0.2], [0.15, 0.3], [0.05, 0.4]])
    reversed_ = ref[::-1].copy()  # same values, opposite ranking in every class
    x = np.zeros((4, 4), dtype=np.float32)
    res = C.compare_attributions(
        {"raw_mi": ref, "reversed": reversed_}, lambda a: np.zeros(len(a), dtype=int), x, np.zeros(4, dtype=int)
    )
    by = {s.method: s for s in res.stats}
    assert by["raw_mi"].ks_statistic == 0 and by["raw_mi"].spearman_rho == pytest.approx(1.0)
    assert by["reversed"].ks_statistic < 0.5  # K-S: the value distributions look alike …
    assert by["reversed"].spearman_per_class == pytest.approx(-1.0)  # … yet the rankings are opposite
    assert list(res.table()["method"]) == ["raw_mi", "reversed", "random order"]


# -- deletion test on a hand-made case ------------------------------------------------------------
def _rule(x: np.ndarray) -> np.ndarray:
    """Class 1 iff x0 + 0.1·x1 > 0: feature 0 decides, feature 1 barely matters."""
    return (x[:, 0] + 0.1 * x[:, 1] > 0).astype(int)


def test_deletion_curve_and_auc_by_hand():
    x = np.array([[1.0, 1.0], [2.0, -1.0], [-1.0, 1.0], [-2.0, -1.0]], dtype=np.float32)
    y = _rule(x)  # [1, 1, 0, 0]
    good = C.deletion_curve(_rule, x, y, [0, 1])  # delete the deciding feature first
    bad = C.deletion_curve(_rule, x, y, [1, 0])
    # without x0 the rule is 0.1·x1 > 0: right on samples 0 and 3 only; with nothing left all say 0
    assert good.tolist() == [1.0, 0.5, 0.5]
    assert bad.tolist() == [1.0, 1.0, 0.5]
    assert C.deletion_auc(good) == pytest.approx((0.75 + 0.5) / 2)
    assert C.deletion_auc(bad) == pytest.approx((1.0 + 0.75) / 2)
    assert C.random_deletion_auc(_rule, x, y) == pytest.approx((0.625 + 0.875) / 2)
    with pytest.raises(ValidationError):
        C.deletion_curve(_rule, x, y, [0, 0])


def test_flow_concentration():
    mats = [np.array([[9.0, 0.0], [0.0, 0.0]]), np.array([[1.0], [0.0]])]  # 6 edges, top 10 % = 1 edge
    assert flow_concentration(mats) == pytest.approx(0.9)
    assert flow_concentration([np.ones((2, 5))], top=0.5) == pytest.approx(0.5)
    assert np.isnan(flow_concentration([np.zeros((2, 2))]))


# -- baselines against closed forms ---------------------------------------------------------------
def _linear(w: np.ndarray) -> nn.Sequential:
    lin = nn.Linear(w.shape[1], w.shape[0], bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.as_tensor(w, dtype=torch.float32))
    return nn.Sequential(lin)


def test_ig_and_shap_on_a_linear_model_match_closed_forms():
    w = np.array([[2.0, -1.0, 0.0], [0.5, 0.0, 3.0]])  # (classes, features)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 3)).astype(np.float32)
    bg = rng.normal(size=(30, 3)).astype(np.float32)
    module = _linear(w)
    # IG with a zero baseline on f = W x is exactly W_ji · x_i
    ig = C.ig_attribution(module, x, 2)
    assert ig == pytest.approx((np.abs(x).mean(axis=0)[:, None] * np.abs(w.T)), rel=1e-4)
    # SHAP of a linear model: W_ji · (x_i − E_bg[x_i])
    sh = C.shap_attribution(module, bg, x, 2)
    expect = np.abs((x - bg.mean(axis=0))[:, :, None] * w.T[None]).mean(axis=0)
    assert sh == pytest.approx(expect, rel=1e-3, abs=1e-5)


def test_raw_mi_ranks_the_informative_feature_first():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=400)
    x = np.column_stack([y + 0.3 * rng.normal(size=400), rng.normal(size=400)])
    mi = C.raw_mi(x, y, 2, estimator="ksg")
    assert mi.shape == (2, 2)
    assert (mi[0] > 0.3).all() and (mi[1] < 0.05).all()
    assert mi[0, 0] == pytest.approx(mi[0, 1], abs=0.02)  # 1[y=0] and 1[y=1] carry the same information


# -- CLI on a small trained model -----------------------------------------------------------------
def test_cli_compare_attribution_and_prune_curve(tmp_path):
    from typer.testing import CliRunner

    from nifgraph.cli import app
    from nifgraph.data import load_dataset
    from nifgraph.network import TrainConfig
    from nifgraph.pipeline import run_main_job
    from nifgraph.settings import AnalysisSettings, EstimationSettings
    from nifgraph.store import open_store

    with open_store() as st:  # NIFGRAPH_STORE points into tmp_path (conftest)
        ids = [
            run_main_job(st, load_dataset("iris", seed=s), TrainConfig(hidden=(5,), epochs=40, seed=s),
                         EstimationSettings("gcmi", seed=s), AnalysisSettings(seed=s)).model.model_id
            for s in (0, 1)
        ]
    runner = CliRunner()

    res = runner.invoke(app, ["compare", *ids, "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert [m["model_id"] for m in d["models"]] == ids and len(d["agreement"]) == 1
    m0 = d["models"][0]
    assert 0 <= m0["fraction_prunable"] <= 1 and 0 < m0["flow_concentration"] <= 1 and m0["n_params"] == 43
    assert -1 <= d["agreement"][0]["spearman"] <= 1 and -1 <= d["agreement"][0]["kendall"] <= 1

    res = runner.invoke(app, ["compare", "--dataset", "iris", "--plot", "--out", str(tmp_path / "fig")])
    assert res.exit_code == 0, res.output
    assert "Rank agreement" in res.output and (tmp_path / "fig" / "compare_attributions.png").is_file()

    res = runner.invoke(app, ["attribution-compare", ids[0], "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert [s["method"] for s in d["stats"]] == ["class_flow", "nif", "shap", "ig", "raw_mi", "random order"]
    assert np.asarray(d["matrices"]["shap"]).shape == (4, 3)
    for s in d["stats"][:4]:
        assert 0 <= s["ks_statistic"] <= 1 and 0 <= s["ks_p"] <= 1 and 0 <= s["deletion_auc"] <= 1
    res = runner.invoke(app, ["attribution-compare", ids[0]])
    assert res.exit_code == 0 and "K-S" in res.output

    res = runner.invoke(app, ["prune-curve", ids[0], "--seeds", "2", "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["ks"] == [0, 1, 2, 3, 4, 5] and set(d["accuracy"]) == set(PRUNE_METHODS) and d["default_method"] == "greedy_kl"
    assert np.asarray(d["accuracy"]["random"]).shape == (2, 6)
    res = runner.invoke(app, ["prune-curve", ids[0], "--seeds", "1", "--plot", "--out", str(tmp_path / "fig")])
    assert res.exit_code == 0 and "removable" in res.output

    res = runner.invoke(app, ["compare", "no-such-model"])
    assert res.exit_code == 1 and "NotFoundError" in res.output


def test_raw_mi_never_exceeds_the_class_indicators_entropy():
    """Iris, KSG, seed 2: petal features separate setosa, so I(x; 1[y=setosa]) = H(1[y=setosa])
    and the raw estimate lands above it (0.6425 > 0.6365); the result is clipped there, exactly,
    and the entries below the bound are the estimator's own."""
    from nifgraph import mi as nmi
    from nifgraph.data import load_dataset

    ds = load_dataset("iris", seed=0)
    got = C.raw_mi(ds.x_train, ds.y_train, 3, estimator="ksg", seed=2)
    onehot = (ds.y_train[:, None] == np.arange(3)[None, :]).astype(float)
    p = onehot.mean(axis=0)
    h = -(p * np.log(p) + (1 - p) * np.log(1 - p))
    raw = nmi.pairwise(ds.x_train, onehot, "ksg", seed=2)
    assert (raw > h).any()  # the case this guards against happens here
    np.testing.assert_allclose(got, np.minimum(raw, h), rtol=0, atol=0)
    assert got.max() == pytest.approx(h.max(), abs=1e-15)
    assert C.raw_mi(ds.x_train, np.zeros_like(ds.y_train), 3, estimator="gcmi").max() == 0.0  # an absent class: H = 0

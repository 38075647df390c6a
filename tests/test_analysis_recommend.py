"""Unit-level information tests on a wide layer, and recommendations that never cost more
than their tolerance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nifgraph.analysis.recommend import DEFAULT_TOLERANCE, recommend
from nifgraph.analysis.removal import unit_means
from nifgraph.analysis.unit_information import unit_information
from nifgraph.errors import ValidationError
from nifgraph.network import accuracy, build_mlp, from_module, pruned

from .handbuilt import decider_inputs, decider_module


def _wide(seed: int = 0, n: int = 2000):
    """A random-weight 64-32-3 ReLU network with unit 5 dead; labels are its own argmax."""
    torch.manual_seed(seed)
    mod = build_mlp(64, [32], 3).eval()
    with torch.no_grad():
        mod[0].bias[5] = -100.0
    net = from_module(mod)
    x = np.random.default_rng(seed).standard_normal((n, 64)).astype(np.float32)
    return net, x, net.predict(x)


def test_unit_level_test_finds_live_units_of_a_wide_layer_informative():
    net, x, _ = _wide()
    ui = unit_information(net.forward_layers(x), null_draws=500)
    assert ui.candidates == ((1, 5),)  # only the dead unit
    assert ui.p_in[5] == 1.0 and ui.p_out[5] == 1.0 and ui.mi_in[5] == 0.0
    live = np.arange(32) != 5
    assert ui.informative[live].all() and ui.q_out[live].max() <= ui.alpha
    assert set(ui.to_dict()) >= {"mi_in", "q_out", "candidates"}


def test_unit_level_null_is_calibrated_on_independent_units():
    rng = np.random.default_rng(3)
    acts = [rng.standard_normal((500, 10)), rng.standard_normal((500, 20)), rng.standard_normal((500, 3))]
    ui = unit_information(acts, null_draws=500, seed=1)
    assert 0.3 < ui.p_in.mean() < 0.7 and ui.informative.sum() == 0


def _needs_h0():
    """2 → 3 ReLU → 2; class 1 iff x0 > 0: h0 decides, h1 is weak, h2 dead."""
    net = from_module(decider_module())
    x, y = decider_inputs(400)
    return net, x[:200], x[200:], y[200:]


def test_a_needed_candidate_is_rejected_with_its_drop():
    net, x_ref, x_val, y_val = _needs_h0()
    rec = recommend(net, [(1, 0), (1, 2), (1, 2)], x_ref, x_val, y_val)
    assert rec.candidates == ((1, 0), (1, 2)) and rec.recommended == ((1, 2),)
    assert [r.unit for r in rec.rejected] == [(1, 0)]
    expected = rec.accuracy_before - accuracy(pruned(net, [(1, 0)], means=unit_means(net, x_ref)), x_val, y_val)
    assert rec.rejected[0].drop_alone == pytest.approx(expected) and expected > 0.3
    assert rec.accuracy_before == rec.accuracy_after == 1.0 and rec.tolerance == DEFAULT_TOLERANCE
    assert rec.to_dict()["rejected"][0]["unit"] == [1, 0]


def test_recommendation_never_exceeds_its_tolerance():
    net, x, y = _wide(n=1200)
    x_ref, x_val, y_val = x[:600], x[600:], y[600:]
    every = [(1, i) for i in range(32)]
    for tol in (0.0, DEFAULT_TOLERANCE, 0.05):
        rec = recommend(net, every, x_ref, x_val, y_val, tolerance=tol)
        after = accuracy(pruned(net, list(rec.recommended), means=unit_means(net, x_ref)), x_val, y_val)
        assert after == rec.accuracy_after and rec.accuracy_before - after <= tol + 1e-12
        assert (1, 5) in rec.recommended and len(rec.recommended) + len(rec.rejected) == 32
        assert all(r.drop_with_set > tol for r in rec.rejected)


def test_recommend_validation():
    net, x_ref, x_val, y_val = _needs_h0()
    with pytest.raises(ValidationError, match="tolerance"):
        recommend(net, [(1, 0)], x_ref, x_val, y_val, tolerance=1.5)
    with pytest.raises(ValidationError, match="hidden"):
        recommend(net, [(2, 0)], x_ref, x_val, y_val)
    with pytest.raises(ValidationError, match="rows"):
        recommend(net, [(1, 0)], x_ref, x_val, y_val[:3])

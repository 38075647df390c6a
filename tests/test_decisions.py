"""Decisions users can act on, end to end through the stored pipeline (import → estimate →
analyse): a constant neuron with a non-zero output is removed without any accuracy change
(its mean folds into the next bias), and a wide layer never gets a recommendation that costs
more than the tolerance, whatever the estimator."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from nifgraph.analysis.removal import unit_means
from nifgraph.network import accuracy, pruned
from nifgraph.pipeline import analyze_run, estimate_run
from nifgraph.settings import DEFAULT_TOLERANCE, EstimationSettings
from nifgraph.store import open_store
from nifgraph.stored import load_model_network, model_dataset

from .handbuilt import import_handbuilt


def constant_unit_module() -> nn.Sequential:
    """h0 copies x1, h1 outputs 2.0 on every input, h2 mixes x0 and x2; the class is
    sign(x0 + x2), read through the constant: y0 - y1 = 2 (x0 + x2) + (0.5 h1 - 1)."""
    l1, l2 = nn.Linear(3, 3), nn.Linear(3, 2)
    with torch.no_grad():
        l1.weight.copy_(torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 1.0]]))
        l1.bias.copy_(torch.tensor([10.0, 2.0, 10.0]))
        l2.weight.copy_(torch.tensor([[1.0, 0.5, 1.0], [1.0, 0.0, -1.0]]))
        l2.bias.copy_(torch.tensor([-21.0, 0.0]))
    return nn.Sequential(l1, nn.ReLU(), l2).eval()


def test_constant_neuron_is_removed_without_any_accuracy_change(tmp_path):
    with open_store(str(tmp_path / "s.duckdb")) as st:
        model = import_handbuilt(st, tmp_path, n=900, module=constant_unit_module)
        assert model.test_accuracy == 1.0
        run, _ = estimate_run(st, model.model_id, EstimationSettings("gcmi", options={}))
        a = analyze_run(st, run.run_id)
        assert (1, 1) in a.prunable
        assert a.accuracy_after == a.accuracy_before == 1.0
        m = a.neuron_metrics.set_index(["layer", "idx"])
        assert m.loc[(1, 1), "candidate"] and m.loc[(1, 1), "accuracy_drop"] == 0.0
        # plain zeroing, the old removal, would have broken the model: the test can fail
        net, ds = load_model_network(model, st), model_dataset(model)
        assert accuracy(pruned(net, [(1, 1)]), ds.x_test, ds.y_test) < 0.95
        # and the stored record reads back the same decision
        back = st.get_analysis(run.run_id)
        assert back.prunable == a.prunable and bool(back.neuron_metrics["candidate"].any())


def wide_module(seed: int = 3) -> nn.Sequential:
    """A 64-32-3 ReLU network with random weights: each hidden unit's information is spread
    thinly over 64 inputs (per-edge MI ~0.007 nats), the case per-edge tests miss."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 3)).eval()
    with torch.no_grad():
        net[0].bias.fill_(0.1)
    return net


@pytest.mark.slow
@pytest.mark.parametrize(
    "estimator,null,options",
    [("ksg", True, {}), ("gcmi", True, {}), ("mine", False, {"steps": 200}), ("smile", False, {"steps": 200})],
)
def test_wide_layer_recommendation_never_costs_more_than_the_tolerance(tmp_path, estimator, null, options):
    x = np.random.default_rng(5).standard_normal((700, 64))
    with open_store(str(tmp_path / "s.duckdb")) as st:
        model = import_handbuilt(st, tmp_path, module=wide_module, x=x)
        est = EstimationSettings.build(estimator, options=options, null=null, null_draws=200 if null else None)
        run, _ = estimate_run(st, model.model_id, est)
        a = analyze_run(st, run.run_id)
    p = a.settings["pruning"]
    assert a.accuracy_before - a.accuracy_after <= DEFAULT_TOLERANCE + 1e-12
    assert set(a.prunable) <= {tuple(u) for u in p["candidates"]} <= {tuple(u) for u in p["flagged_by_flow"]}
    # the recommendation was verified: removing the set again reproduces the stored accuracy
    net, ds = load_model_network(model, st), model_dataset(model)
    after = accuracy(pruned(net, a.prunable, means=unit_means(net, ds.x_train)), ds.x_test, ds.y_test)
    assert after == a.accuracy_after

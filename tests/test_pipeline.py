"""Pipeline-level guarantees: seeded runs are reproducible, runs stack up side by side,
activation summaries are right, pruning zeroes exactly the chosen neurons."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nifgraph.data import load_dataset
from nifgraph.errors import ValidationError
from nifgraph.network import TrainConfig, from_module, neuron_summaries, pruned
from nifgraph.pipeline import estimate_run, train_model
from nifgraph.settings import EstimationSettings
from nifgraph.store import open_store

from .handbuilt import handbuilt_inputs, handbuilt_module


@pytest.fixture()
def trained(tmp_path):
    st = open_store(str(tmp_path / "s.duckdb"))
    ds = load_dataset("iris", seed=1)
    model, res = train_model(st, ds, TrainConfig(hidden=(5,), epochs=60, seed=1))
    yield st, model, res
    st.close()


def test_seeded_runs_reproduce(trained):
    st, model, _ = trained
    opts = {"steps": 300}
    r1, _ = estimate_run(st, model.model_id, EstimationSettings(seed=3, options=opts))
    r2, _ = estimate_run(st, model.model_id, EstimationSettings(seed=3, options=opts))
    r3, _ = estimate_run(st, model.model_id, EstimationSettings(seed=4, options=opts))
    e1, e2, e3 = (st.get_edges(r.run_id)["value"].to_numpy() for r in (r1, r2, r3))
    np.testing.assert_array_equal(e1, e2)
    assert not np.array_equal(e1, e3)
    assert [r.run_id for r in st.list_runs(model.model_id)] == [r1.run_id, r2.run_id, r3.run_id]
    assert r1.settings["steps"] == 300 and r1.settings["method"] == "mine"


def test_training_is_seeded(tmp_path):
    ds = load_dataset("iris", seed=0)
    with open_store(str(tmp_path / "a.duckdb")) as st:
        _, a = train_model(st, ds, TrainConfig(epochs=20, seed=5))
        _, b = train_model(st, ds, TrainConfig(epochs=20, seed=5))
    for la, lb in zip(a.network.linears, b.network.linears, strict=True):
        assert torch.equal(la.weight, lb.weight)


def test_split_is_stratified_and_standardised_on_train_only():
    ds = load_dataset("iris", seed=0, test_size=0.3)
    assert np.bincount(ds.y_test).tolist() == [15, 15, 15]
    np.testing.assert_allclose(ds.x_train.mean(axis=0), 0, atol=1e-5)
    assert np.abs(ds.x_test.mean(axis=0)).max() > 1e-3  # test split is not re-centred


def test_activation_summaries_and_pruning():
    net = from_module(handbuilt_module())
    acts = net.forward_layers(handbuilt_inputs(500))
    s = neuron_summaries(acts)[1]
    assert s["dead"].tolist() == [False, True, True, False]
    assert s["zero_frac"][1] == 1.0 and s["zero_frac"][0] == 0.0
    p = pruned(net, [(1, 0)])
    assert float(p.linears[0].weight[0].detach().abs().sum()) == 0.0 and float(p.linears[1].weight[:, 0].detach().abs().sum()) == 0.0
    assert float(net.linears[0].weight[0].detach().abs().sum()) > 0  # the original is untouched
    with pytest.raises(ValidationError, match="hidden"):
        pruned(net, [(0, 1)])

"""Ground truth by construction: the hand-built network's flow (see tests/handbuilt.py)."""

from __future__ import annotations

import numpy as np
import pytest

from nifgraph.analysis.local import analyze
from nifgraph.network import from_module, neuron_summaries
from nifgraph.nif import estimate_nif

from .handbuilt import MIX_MI, handbuilt_inputs, handbuilt_module, import_handbuilt

FAST_MINE = {"steps": 300}


@pytest.fixture(scope="module")
def flow():
    net = from_module(handbuilt_module())
    acts = net.forward_layers(handbuilt_inputs(2000))
    nif = estimate_nif(acts, estimator="mine", seed=0, **FAST_MINE)
    dead = np.concatenate([s["dead"] for s in neuron_summaries(acts)])
    return net, acts, nif, dead


def test_dead_and_constant_neurons_have_zero_flow(flow):
    _, _, nif, _ = flow
    w0, w1 = nif.values
    # into h1 (dead) and h2 (constant): exactly zero, without training
    assert np.all(w0[:, 1] == 0.0) and np.all(w0[:, 2] == 0.0)
    # and nothing flows out of them
    assert np.all(w1[1, :] == 0.0) and np.all(w1[2, :] == 0.0)


def test_copying_edge_carries_the_most(flow):
    _, _, nif, _ = flow
    w0 = nif.values[0]
    assert np.unravel_index(np.argmax(w0), w0.shape) == (1, 0)  # x1 -> h0
    assert w0[1, 0] > 1.0  # a copy carries far more than any mixing edge
    # mixing edges carry about ½ ln 2; independent edges about nothing
    assert abs(w0[0, 3] - MIX_MI) < 0.08 and abs(w0[2, 3] - MIX_MI) < 0.08
    for i, k in [(0, 0), (2, 0), (1, 3)]:
        assert w0[i, k] < 0.03


def test_dead_and_constant_neurons_flagged_prunable(flow):
    net, _, nif, dead = flow
    a = analyze(nif.values, dead, threshold=0.02)
    m = a.metrics_frame(net.layer_sizes)
    flagged = set(map(tuple, m[m["prunable"]][["layer", "idx"]].to_numpy().tolist()))
    assert flagged == {(1, 1), (1, 2)}


def test_pipeline_on_handbuilt_model(tmp_path):
    """Import the hand-built model through the CLI path, estimate, analyse: flagged neurons
    are the dead and constant ones, and removing them leaves accuracy unchanged."""
    from nifgraph.pipeline import analyze_run, estimate_run
    from nifgraph.settings import EstimationSettings
    from nifgraph.store import open_store

    with open_store(str(tmp_path / "s.duckdb")) as st:
        model = import_handbuilt(st, tmp_path, n=600)
        assert model.test_accuracy == 1.0
        run, _ = estimate_run(st, model.model_id, EstimationSettings(options=FAST_MINE))
        a = analyze_run(st, run.run_id)
        assert set(a.prunable) == {(1, 1), (1, 2)}
        assert a.accuracy_after == a.accuracy_before == 1.0
        neurons = st.get_neurons(model.model_id)
        assert neurons.set_index(["layer", "idx"]).loc[(1, 1), "dead"]
        assert neurons.set_index(["layer", "idx"]).loc[(1, 1), "zero_frac"] == 1.0

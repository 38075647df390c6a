"""Positions as samples for conv channels (``conv_samples="positions"``), against ground truth.

A hand-built conv net on 2×8×8 Gaussian images: conv1 copies input channel 0 (signal) and 1
(noise) position by position; conv2's channel 0 is ρ·signal + √(1−ρ²)·noise at every
position. Per position the pair (conv1_0, conv2_0) is bivariate normal with correlation ρ, so
I = −½ ln(1 − ρ²); averaged over positions it is too (the means are jointly normal with the
same ρ). When every image's signal channel is centred (its mean is the same for every image),
averaging destroys the dependence -- conv1_0's mean is a constant -- while each position still
carries the full I.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from nifgraph.analysis.dag_flow import estimate_dag
from nifgraph.dag import MAX_POSITION_SAMPLES, read_module
from nifgraph.errors import ValidationError

RHO = 0.9
TRUE_MI = -0.5 * np.log(1 - RHO**2)  # 0.830 nats


class _Copy(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(2, 2, 3, padding=1), nn.Conv2d(2, 2, 3, padding=1)
        self.head = nn.Linear(2, 2)
        with torch.no_grad():
            for p in self.parameters():
                p.zero_()
            self.conv1.weight[0, 0, 1, 1] = 1.0  # conv1_0 = signal at the same position
            self.conv1.weight[1, 1, 1, 1] = 1.0  # conv1_1 = noise
            self.conv2.weight[0, 0, 1, 1] = RHO
            self.conv2.weight[0, 1, 1, 1] = np.sqrt(1 - RHO**2)
            self.conv2.weight[1, 1, 1, 1] = 1.0  # conv2_1 = noise
            self.head.weight.copy_(torch.eye(2))

    def forward(self, x):
        return self.head(self.conv2(self.conv1(x)).mean(dim=(2, 3)))


def _images(n: int, centred: bool, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, 2, 8, 8))
    if centred:  # every image's signal channel has mean 0: its average is a constant
        x[:, 0] -= x[:, 0].mean(axis=(1, 2), keepdims=True)
    return x.reshape(n, -1).astype(np.float32)


@pytest.fixture(scope="module")
def dag():
    return read_module(_Copy(), torch.zeros(2, 2, 8, 8))


def test_positions_agree_with_means_and_the_truth_where_averages_keep_the_dependence(dag):
    x = _images(3000, centred=False)
    means = estimate_dag(dag, x, estimator="gcmi")
    pos = estimate_dag(dag, x, estimator="gcmi", conv_samples="positions", max_positions=12_000)
    assert pos.on_positions == ((1, 2),) and means.on_positions == ()
    assert pos.pair_samples[(1, 2)] == 12_000 and pos.pair_samples[(0, 1)] == 3000 == means.pair_samples[(1, 2)]
    for nif in (means, pos):
        assert abs(nif.blocks[(1, 2)][0, 0] - TRUE_MI) < 0.06, nif.blocks[(1, 2)]
        assert nif.blocks[(1, 2)][0, 1] < 0.02  # conv2_1 is the noise only: independent of the signal
    # pairs that are not conv → conv of one size keep the means: identical values
    np.testing.assert_array_equal(pos.blocks[(2, 3)], means.blocks[(2, 3)])
    np.testing.assert_array_equal(pos.blocks[(0, 1)], means.blocks[(0, 1)])


def test_positions_keep_what_averaging_destroys(dag):
    x = _images(3000, centred=True)
    means = estimate_dag(dag, x, estimator="gcmi")
    pos = estimate_dag(dag, x, estimator="gcmi", conv_samples="positions", max_positions=12_000)
    assert means.blocks[(1, 2)][0, 0] < 0.05  # conv1_0's mean is the same for every image
    # per position: correlation ρ·√(63/64)/√(1 − ρ²/64) after centring, so I ≈ TRUE_MI − 0.01
    assert abs(pos.blocks[(1, 2)][0, 0] - TRUE_MI) < 0.06, pos.blocks[(1, 2)]


def test_position_samples_are_capped_aligned_and_seeded(dag):
    x = _images(100, centred=False)
    s = dag.layer_samples(x, "positions", max_positions=500, seed=3)
    assert s.grids == (None, (8, 8), (8, 8), None)
    assert s.positions[1].shape == (500, 2) == s.positions[2].shape
    # the same positions for both layers: conv2_1 copies conv1_1 exactly, place by place
    np.testing.assert_allclose(s.positions[2][:, 1], s.positions[1][:, 1], atol=1e-6)
    again = dag.layer_samples(x, "positions", max_positions=500, seed=3)
    np.testing.assert_array_equal(again.positions[1], s.positions[1])
    full = dag.layer_samples(x, "positions", max_positions=10**6)
    assert full.positions[1].shape == (100 * 64, 2)
    # every position of image 0 comes first, in (row, column) order
    img0 = torch.as_tensor(x[:1]).reshape(1, 2, 8, 8)[0, 0].numpy().ravel()
    np.testing.assert_allclose(full.positions[1][:64, 0], img0, atol=1e-6)
    np.testing.assert_allclose(full.means[1], dag.forward_layers(x)[1])
    assert MAX_POSITION_SAMPLES == 20_000
    with pytest.raises(ValidationError, match="'conv_samples' parameter"):
        dag.layer_samples(x, "pixels")


def test_the_cli_records_positions_in_the_run_shows_and_exports_them(tmp_path):
    import json

    import pandas as pd

    from nifgraph.store import open_store

    from .conftest import invoke, one_line_error

    res = invoke("train", "--arch", "cnn", "--dataset", "digits", "--hidden", "2,3", "--epochs", "1", "--json")
    assert res.exit_code == 0, res.output
    mid = json.loads(res.stdout)["model_id"]
    one_line_error(invoke("estimate", mid, "--conv-samples", "pixels"), "'conv_samples' parameter", "positions")
    one_line_error(invoke("estimate", mid, "--conv-samples", "positions", "--max-positions", "3"), "'max_positions'")
    one_line_error(invoke("estimate", mid, "--conv-samples", "positions", "--null"), "not independent", "--conv-samples mean")
    res = invoke("estimate", mid, "-e", "gcmi", "--conv-samples", "positions", "--max-positions", "2000", "--json")
    assert res.exit_code == 0, res.output
    with open_store() as st:
        run = st.list_runs(mid)[-1]
    # input → conv1 and conv2 → head keep the means; conv1 → conv2 (both 8×8) is on positions
    assert run.settings["conv_samples"] == "positions" and run.settings["position_pairs"] == [[1, 2]]
    assert run.settings["position_samples"] == 2000 == run.settings["max_positions"]
    show = invoke("show", run.run_id)
    assert show.exit_code == 0 and "positions: 1 conv→conv layer pair on 2,000 position samples" in " ".join(show.output.split())
    assert invoke("export", run.run_id, "--out", str(tmp_path / "x"), "--format", "csv").exit_code == 0
    edges = pd.read_csv(tmp_path / "x" / f"{run.run_id}_edges.csv")
    on_pos = edges[edges["samples"] == "positions"]
    assert set(zip(on_pos["src_layer"], on_pos["dst_layer"], strict=True)) == {(1, 2)} and len(on_pos) == 2 * 3
    res = invoke("estimate", mid, "-e", "gcmi", "--json")  # the default: recorded too
    with open_store() as st:
        assert st.list_runs(mid)[-1].settings["conv_samples"] == "mean"
    res = invoke("train", "--dataset", "iris", "--epochs", "5", "--json")
    one_line_error(invoke("estimate", json.loads(res.stdout)["model_id"], "--conv-samples", "positions"), "conv layers")

"""Importance orders: greedy KL removes harmless units first and is deterministic."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from nifgraph.analysis import pruning as P
from nifgraph.analysis.importance import (
    greedy_kl_order,
    greedy_kl_scores,
    output_mi_scores,
    std_wout_scores,
)
from nifgraph.analysis.removal import unit_means
from nifgraph.network import build_mlp, from_module, pruned


def _net():
    """2 inputs → 4 hidden ReLU → 2 classes (class 1 iff x0 > 0).

    h0 = relu(x0) decides (out weight 2); h1 = relu(-x0) helps (out weight 1); h2 = relu(x1 + 5)
    is live and large but its outgoing weights are 0 (removing it changes nothing); h3 =
    relu(x1 - 1) adds a small nuisance to logit 1.
    """
    l1, l2 = nn.Linear(2, 4), nn.Linear(4, 2)
    with torch.no_grad():
        l1.weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 3.0], [0.0, 1.0]]))
        l1.bias.copy_(torch.tensor([0.0, 0.0, 5.0, -1.0]))
        l2.weight.copy_(torch.tensor([[0.0, 1.0, 0.0, 0.0], [2.0, 0.0, 0.0, 0.3]]))
        l2.bias.copy_(torch.tensor([0.0, 0.0]))
    net = from_module(nn.Sequential(l1, nn.ReLU(), l2).eval())
    x = np.random.default_rng(0).standard_normal((400, 2)).astype(np.float32)
    return net, x


def test_greedy_kl_removes_the_unit_that_changes_nothing_first():
    net, x = _net()
    order, kl = greedy_kl_order(net, x)
    assert order[0] == 2 and kl[0] == 0.0  # h2: live, big weights in, nothing out
    assert order[-1] == 0  # h0 decides: removed last
    # the KL reported for the first step is the KL of the actually pruned network
    p = pruned(net, [(1, 2)], means=unit_means(net, x))
    np.testing.assert_allclose(p.forward_layers(x)[-1], net.forward_layers(x)[-1], atol=1e-6)
    # magnitude keeps h2 (large incoming weights) to the end of the layer
    mag = P.magnitude_scores([lin.weight.detach().numpy() for lin in net.linears])
    assert np.argmin(mag) != 2


def test_greedy_kl_is_deterministic_and_seed_free():
    torch.manual_seed(0)
    net = from_module(build_mlp(6, [8, 5], 3).eval())
    x = np.random.default_rng(0).standard_normal((200, 6)).astype(np.float32)
    a, ka = greedy_kl_order(net, x, seed=0)
    b, kb = greedy_kl_order(net, x, seed=123)
    assert a.tolist() == b.tolist() and np.array_equal(ka, kb)
    assert sorted(a.tolist()) == list(range(13))
    s = greedy_kl_scores(net, x)
    assert np.argsort(s).tolist() == a.tolist()
    y = net.predict(x)
    curves = P.prune_curves(net, None, x, y, seeds=3, methods=("greedy_kl", "random"), reference=x)
    rows = curves.accuracy["greedy_kl"]
    assert np.array_equal(rows[0], rows[1]) and np.array_equal(rows[0], rows[2])  # one order for every seed


def test_static_scores_and_default_marking():
    net, x = _net()
    std = std_wout_scores(net, x)
    assert std.shape == (4,) and std[2] == 0.0 and std[0] > std[3] > 0
    mi = output_mi_scores(net, x)
    assert mi.shape == (4,) and mi[0] > mi[2]
    y = net.predict(x)
    curves = P.prune_curves(net, None, x, y, seeds=2, methods=("greedy_kl", "std_wout", "mi_output", "magnitude"))
    d = curves.to_dict()
    marks = {row["method"]: row["default"] for row in d["summary"]}
    assert marks == {"greedy_kl": True, "std_wout": False, "mi_output": False, "magnitude": False}
    assert d["default_method"] == P.DEFAULT_PRUNE_METHOD == "greedy_kl"
    assert curves.auc("greedy_kl") >= curves.auc("magnitude")
    with pytest.raises(P.ValidationError, match="mats"):
        P.prune_curves(net, None, x, y, methods=("nif",))

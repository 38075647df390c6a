"""Removal that folds the mean: exact for constant units, identical to zeroing for dead ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from nifgraph.analysis.removal import FoldedForward, mean_pruned, replacement_values, unit_means
from nifgraph.errors import ValidationError
from nifgraph.network import accuracy, from_module, pruned

from .handbuilt import handbuilt_inputs, handbuilt_module


def _constant_unit_net(act: type[nn.Module] = nn.ReLU):
    """2 inputs → 3 hidden → 2 classes, class 1 iff x0 ≥ 1 (integer inputs, exact in float32).

    h0 = act(x0) decides; h1 = act(0·x + b) is constant (2.0 for ReLU) and feeds logit 0 with
    weight 0.5, which makes up logit 0's threshold; h2 is dead.
    logit0 = 0.5·h1 − 0.5 (= 0.5), logit1 = h0.
    """
    l1, l2 = nn.Linear(2, 3), nn.Linear(3, 2)
    relu = act is nn.ReLU
    # tanh variant: h1 = tanh(20) == 1.0 in float32 (saturated), logit0 = 2·h1 − 2 (= 0), and
    # the saturated h2 = −1 sends nothing on
    const_bias, w_const, b0, w_dead = (2.0, 0.5, -0.5, 3.0) if relu else (20.0, 2.0, -2.0, 0.0)
    with torch.no_grad():
        l1.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]]))
        l1.bias.copy_(torch.tensor([0.0, const_bias, -100.0]))
        l2.weight.copy_(torch.tensor([[0.0, w_const, w_dead], [1.0, 0.0, -w_dead]]))
        l2.bias.copy_(torch.tensor([b0, 0.0]))
    net = from_module(nn.Sequential(l1, act(), l2).eval())
    rng = np.random.default_rng(0)
    x = rng.choice([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0], size=(400, 2)).astype(np.float32)
    y = (x[:, 0] >= 1).astype(np.int64)
    return net, x, y


@pytest.mark.parametrize("act", [nn.ReLU, nn.Tanh])
def test_constant_unit_is_removed_without_any_change(act):
    net, x, y = _constant_unit_net(act)
    assert accuracy(net, x, y) == 1.0
    means = unit_means(net, x)
    assert means[1][1] == (2.0 if act is nn.ReLU else 1.0)
    folded = pruned(net, [(1, 1)], means=means)
    np.testing.assert_array_equal(folded.forward_layers(x)[-1], net.forward_layers(x)[-1])
    assert accuracy(folded, x, y) == 1.0
    # plain zeroing drops the constant's contribution to logit 0 and breaks the network
    assert accuracy(pruned(net, [(1, 1)]), x, y) < 0.75
    assert accuracy(mean_pruned(net, [(1, 1)], x), x, y) == 1.0


def test_dead_relu_is_bit_identical_to_zeroing():
    net = from_module(handbuilt_module())
    x = handbuilt_inputs(500)
    means = unit_means(net, x)
    assert means[1][1] == 0.0  # h1 is dead
    a, b = pruned(net, [(1, 1)]), pruned(net, [(1, 1)], means=means)
    for la, lb in zip(a.linears, b.linears, strict=True):
        assert torch.equal(la.weight, lb.weight) and torch.equal(la.bias, lb.bias)
    # the constant h2 (0.5, outgoing weights 0) folds 0 into the bias: same logits
    np.testing.assert_array_equal(pruned(net, [(1, 2)], means=means).forward_layers(x)[-1], net.forward_layers(x)[-1])
    assert float(net.linears[1].bias.detach().abs().sum()) == 20.0  # the original is untouched


def test_several_units_each_replaced_by_its_own_mean_and_engine_agrees():
    torch.manual_seed(0)
    from nifgraph.network import build_mlp

    net = from_module(build_mlp(5, [7, 6], 3, activation="tanh").eval())
    x = np.random.default_rng(1).standard_normal((300, 5)).astype(np.float32)
    means = unit_means(net, x)
    units = [(1, 2), (2, 4), (1, 5), (1, 2)]  # a duplicate is removed once
    p = pruned(net, units, means=means)
    eng = FoldedForward(net, means)
    removed = [np.zeros(n, dtype=bool) for n in net.layer_sizes]
    for layer, idx in units:
        removed[layer][idx] = True
    logits = eng.layers(torch.as_tensor(x), removed)[-1].numpy()
    np.testing.assert_allclose(logits, p.forward_layers(x)[-1], atol=1e-5)
    # one extra candidate, evaluated in a batch, equals pruning it too
    hs = eng.layers(torch.as_tensor(x), removed)
    cand = eng.candidate_logits(hs, removed, 2, np.array([0, 3]))
    np.testing.assert_allclose(cand[1].numpy(), pruned(net, [*units, (2, 3)], means=means).forward_layers(x)[-1], atol=1e-5)


def test_bias_free_next_layer_gets_a_bias():
    l1, l2 = nn.Linear(1, 2), nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        l1.weight.copy_(torch.tensor([[1.0], [0.0]]))
        l1.bias.copy_(torch.tensor([0.0, 3.0]))
        l2.weight.copy_(torch.tensor([[1.0, 2.0]]))
    net = from_module(nn.Sequential(l1, nn.ReLU(), l2))
    x = np.array([[1.0], [2.0]], dtype=np.float32)
    p = pruned(net, [(1, 1)], means=unit_means(net, x))
    np.testing.assert_array_equal(p.forward_layers(x)[-1], net.forward_layers(x)[-1])


def test_validation():
    net, x, _ = _constant_unit_net()
    with pytest.raises(ValidationError, match="unit_means"):
        pruned(net, [(1, 1)], means=[np.zeros(3)])
    with pytest.raises(ValidationError, match="hidden"):
        pruned(net, [(2, 0)], means=unit_means(net, x))
    with pytest.raises(ValidationError, match="removal"):
        replacement_values(net, x, "bogus")
    with pytest.raises(ValidationError, match="reference"):
        replacement_values(net, None, "mean")
    assert replacement_values(net, None, "zero") is None
    with pytest.raises(ValidationError):
        unit_means(net, np.zeros((0, 2)))

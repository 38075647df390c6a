"""Pruning orders and curves on a tiny hand-built network whose right order is known."""

from __future__ import annotations

import numpy as np
import pytest

from nifgraph.analysis import pruning as P
from nifgraph.errors import ValidationError
from nifgraph.network import from_module

from .handbuilt import decider_inputs, decider_module


def _handbuilt():
    """2 inputs → 3 hidden ReLU → 2 classes; class 1 iff x0 > 0.

    h0 = relu(x0) decides, h1 = relu(-x0) helps a little, h2 = relu(… - 100) is dead (with large
    outgoing weights that cancel). The right removal order: h2, then h1 (h0 alone still decides),
    then h0 (chance).
    """
    net = from_module(decider_module())
    x, y = decider_inputs(200)
    # NIF by hand: h0 carries most, h1 some, h2 (dead) nothing
    mats = [np.array([[0.6, 0.3, 0.0], [0.01, 0.01, 0.0]]), np.array([[0.5, 0.5], [0.2, 0.2], [0.0, 0.0]])]
    return net, mats, x, y


def test_scores_by_hand():
    net, mats, _, _ = _handbuilt()
    assert P.hidden_neurons(net.layer_sizes) == [(1, 0), (1, 1), (1, 2)]
    assert P.nif_scores(mats) == pytest.approx([0.61 * 1.0, 0.31 * 0.4, 0.0])
    w = [lin.weight.detach().numpy() for lin in net.linears]
    assert P.magnitude_scores(w) == pytest.approx(
        [np.sqrt(1 + 4), np.sqrt(1 + 0.04), np.sqrt(0.09 + 0.09 + 25 + 25)]
    )
    assert P.layer_normalized(np.array([1.0, 3.0, 2.0, 0.0]), (1, 2, 2, 1)) == pytest.approx([0.5, 1.5, 2.0, 0.0])
    order = P.prune_order(np.array([0.0, 1.0, 0.0, 2.0]), np.random.default_rng(0))
    assert set(order[:2]) == {0, 2} and list(order[2:]) == [1, 3]


def test_nif_order_is_the_right_one_and_magnitude_is_fooled():
    net, mats, x, y = _handbuilt()
    curves = P.prune_curves(net, mats, x, y, seeds=3, methods=("nif", "magnitude", "random"), flagged=[(1, 2)])
    assert curves.ks.tolist() == [0, 1, 2, 3]
    nif = curves.mean("nif")
    # dead h2 first (no change), then weak h1 (h0 alone still decides), then h0: chance (with
    # the mean fold the emptied network outputs its mean logits, which favour class 1)
    assert nif[:3] == pytest.approx([1.0, 1.0, 1.0]) and nif[3] == pytest.approx(y.mean())
    # magnitude sees the dead neuron's big outgoing weights and keeps it to the end
    assert curves.mean("magnitude")[1] == pytest.approx(1.0) and curves.mean("magnitude")[2] < 1.0
    assert curves.auc("nif") >= curves.auc("random") and curves.auc("nif") > curves.auc("magnitude")
    assert curves.removable("nif") == 2 and curves.accuracy_flagged == pytest.approx(1.0)
    assert set(curves.table()["method"]) == {"nif", "magnitude", "random"}
    assert curves.to_dict()["flagged"] == [[1, 2]]


def test_betweenness_scores_and_validation():
    net, mats, x, y = _handbuilt()
    b = P.betweenness_scores(mats)
    assert b.shape == (3,) and b[2] == 0.0  # no edge through the dead neuron
    with pytest.raises(ValidationError):
        P.prune_curves(net, mats, x, y, methods=("bogus",))
    with pytest.raises(ValidationError):
        P.prune_curves(net, [mats[0]], x, y)
    with pytest.raises(ValidationError):
        P.pruning_curve(net, x, y, [(1, 0)], [2])


def test_prune_curve_seeds_are_bounded():
    from nifgraph.analysis.pruning import MAX_SEEDS, prune_curves

    with pytest.raises(ValidationError, match="seeds"):
        prune_curves(None, [], None, None, seeds=MAX_SEEDS + 1)
    with pytest.raises(ValidationError, match="seeds"):
        prune_curves(None, [], None, None, seeds=0)

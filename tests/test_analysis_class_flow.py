"""Class-specific, bounded attribution (nifgraph.analysis.class_flow): planted ground truth, bounds,
the path-sum identity by brute-force enumeration, closed forms, validation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from nifgraph.analysis import class_flow as cf
from nifgraph.errors import ValidationError
from nifgraph.network import build_mlp, from_module


@pytest.fixture(scope="module")
def planted():
    """4 → 4 (ReLU) → 3. Logit 0 reads feature 0 alone, logit 1 feature 1 alone, logit 2 is a
    constant plus the two noise neurons (features 2, 3 feed only them)."""
    m = build_mlp(4, [4], 3)
    with torch.no_grad():
        m[0].weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, -1]]))
        m[0].bias.zero_()
        m[2].weight.copy_(torch.tensor([[5.0, 0, 0.5, 0.5], [0, 5, 0.5, 0.5], [0, 0, 0.5, 0.5]]))
        m[2].bias.copy_(torch.tensor([0.0, 0, 2.5]))
    x = np.random.default_rng(0).standard_normal((1500, 4)).astype(np.float32)
    return from_module(m), x


CASES = [("flow", "gcmi", "bound"), ("flow", "ksg", "bound"), ("flow_dpi", "gcmi", "bound"),
         ("flow_dpi", "ksg", "coinfo"), ("occlusion", "gcmi", "bound")]


@pytest.mark.parametrize("method,estimator,edge", CASES)
def test_planted_features_top_their_class(planted, method, estimator, edge):
    net, x = planted
    r = cf.class_flow(net, x, method=method, estimator=estimator, edge=edge)
    v = r.values
    assert v.shape == r.bound.shape == (4, 3)
    assert np.argmax(v[:, 0]) == 0 and np.argmax(v[:, 1]) == 1
    # class-specific: feature 0 matters more to class 0 than to class 1, and vice versa
    assert v[0, 0] > v[0, 1] and v[1, 1] > v[1, 0]
    assert not np.array_equal(np.argsort(-v[:, 0]), np.argsort(-v[:, 1]))
    assert (v >= 0).all() and (v <= r.bound + 1e-12).all()


def test_flow_units_and_bounds(planted):
    net, x = planted
    hc = cf.class_entropy(net.predict(x), 3)
    flow = cf.class_flow(net, x, method="flow")
    assert np.allclose(flow.values.sum(axis=0), 1.0)  # one unit of share per class
    dpi = cf.class_flow(net, x, method="flow_dpi")
    assert (dpi.bound <= hc[None, :] + 1e-12).all() and (hc <= np.log(2) + 1e-12).all()
    for e in dpi.edges:  # every class-conditioned edge within [0, H(c_j)]
        assert e.shape[0] == 3 and (e >= 0).all() and (e <= hc[:, None, None] + 1e-12).all()
    occ = cf.class_flow(net, x, method="occlusion")
    assert np.allclose(occ.bound, np.log(2)) and occ.values[2:].max() < 1e-9  # noise inputs never reach logits 0/1... nor the decision


def test_path_sum_identity_by_enumeration():
    rng = np.random.default_rng(3)
    sizes, c = (3, 4, 2, 3), 3
    edges = [rng.random((c, a, b)) * (rng.random((c, a, b)) > 0.2) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    dec = rng.random((c, c))
    got = cf.routing_shares(edges, dec)
    want = np.zeros((sizes[0], c))
    for j in range(c):
        cols = [e[j] / np.where(e[j].sum(axis=0) > 0, e[j].sum(axis=0), 1.0) for e in edges]
        last = dec[:, j] / dec[:, j].sum()
        for path in itertools.product(*(range(s) for s in sizes)):
            w = last[path[-1]]
            for li, m in enumerate(cols):
                w *= m[path[li], path[li + 1]]
            want[path[0], j] += w
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got.sum(axis=0), 1.0)


def test_blocked_flow_is_zero_and_identity_default():
    e = [np.zeros((2, 3, 2)), np.ones((2, 2, 2))]
    assert (cf.routing_shares(e) == 0).all()
    e = [np.ones((2, 2, 2)), np.eye(2)[None].repeat(2, axis=0)]
    np.testing.assert_allclose(cf.routing_shares(e), 0.5)


def test_occlusion_closed_form():
    p = np.array([[0.9, 0.1], [0.5, 0.5]])
    assert np.allclose(cf.occlusion_information(p, p[None]), 0.0)  # nothing changes: 0
    flip = np.array([[[1.0, 0.0], [1.0, 0.0]]])
    hard = np.array([[0.0, 1.0], [0.0, 1.0]])
    np.testing.assert_allclose(cf.occlusion_information(hard, flip), np.log(2))  # a sure flip: ln 2


def test_conditional_mi_and_coinformation_gaussian():
    # x = c + noise, y = c + noise: x and y are dependent only through the binary c, so
    # I(x;y|c) ≈ 0 and the co-information ≈ I(x;y) > 0, and never above H(c).
    rng = np.random.default_rng(0)
    c = rng.random(4000) < 0.5
    x = (3 * c + rng.standard_normal(4000))[:, None]
    y = (3 * c + rng.standard_normal(4000))[:, None]
    assert cf.conditional_mi(x, y, c)[0, 0] < 0.01
    co = cf.class_coinformation(x, y, c)[0, 0]
    assert 0.2 < co <= np.log(2) + 1e-12


def test_dpi_weighted_bounded():
    q = np.array([[0.5, 0.0], [0.25, 0.0]])
    cap = np.array([[0.3, 0.2], [0.6, 0.1]])
    np.testing.assert_allclose(cf.dpi_weighted(q, cap), [[0.3, 0.0], [0.3, 0.0]])


@pytest.mark.parametrize(
    "call",
    [
        lambda: cf.class_indicators([0, 3], 3),
        lambda: cf.routing_shares([np.ones((2, 3, 3))]),
        lambda: cf.routing_shares([-np.ones((2, 3, 2))]),
        lambda: cf.occlusion_information(np.ones((4, 2)), np.ones((3, 4, 3))),
        lambda: cf.dpi_weighted(np.ones((2, 2)), np.ones((2, 3))),
        lambda: cf.class_edge_information([np.ones((5, 2)), np.ones((5, 2))], [0, 1, 0, 1, 0], 2, kind="x"),
    ],
)
def test_validation_errors_are_one_line(call):
    with pytest.raises(ValidationError) as e:
        call()
    assert "\n" not in str(e.value)


def test_bad_method(planted):
    net, x = planted
    with pytest.raises(ValidationError, match="method"):
        cf.class_flow(net, x, method="shap")

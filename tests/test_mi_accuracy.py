"""nifgraph.mi against closed forms: bivariate Gaussians and independent pairs."""

from __future__ import annotations

import numpy as np
import pytest

import nifgraph.mi as mi

RHOS = (0.3, 0.6, 0.9)
REPS = 4  # independent data sets per rho, estimated as one batch of edges


def gaussian_mi(rho: float) -> float:
    return -0.5 * np.log(1.0 - rho * rho)


@pytest.fixture(scope="module")
def gaussian_columns():
    """x, y of shape (4000, 3*REPS + REPS): column k of y depends on column k of x only."""
    rng = np.random.default_rng(42)
    n = 4000
    xs, ys, truth = [], [], []
    for rho in (*RHOS, 0.0):
        for _ in range(REPS):
            x = rng.standard_normal(n)
            xs.append(x)
            ys.append(rho * x + np.sqrt(1 - rho * rho) * rng.standard_normal(n))
            truth.append(gaussian_mi(rho))
    return np.column_stack(xs), np.column_stack(ys), np.array(truth)


@pytest.fixture(scope="module")
def mine_estimates(gaussian_columns):
    x, y, _ = gaussian_columns
    return mi.pairwise(x, y, "mine", seed=0)


@pytest.mark.parametrize("k", range(len(RHOS)))
def test_mine_recovers_gaussian_mi(mine_estimates, gaussian_columns, k):
    _, _, truth = gaussian_columns
    block = slice(k * REPS, (k + 1) * REPS)
    est = np.diag(mine_estimates)[block]
    assert abs(est.mean() - truth[block].mean()) <= 0.05


def test_mine_independent_pairs_near_zero(mine_estimates):
    off = mine_estimates[~np.eye(mine_estimates.shape[0], dtype=bool)]
    assert off.mean() <= 0.02
    assert np.quantile(off, 0.95) <= 0.02
    indep = np.diag(mine_estimates)[len(RHOS) * REPS :]
    assert np.all(indep <= 0.02)


def test_mine_orders_edges_by_dependence(mine_estimates):
    d = np.diag(mine_estimates)[: len(RHOS) * REPS].reshape(len(RHOS), REPS).mean(1)
    assert d[0] < d[1] < d[2]


@pytest.mark.parametrize(("method", "tol"), [("ksg", 0.03), ("gcmi", 0.02), ("smile", 0.06)])
def test_other_methods_on_gaussians(method, tol, gaussian_columns):
    x, y, truth = gaussian_columns
    if method == "smile":  # slower: half of the data sets
        x, y, truth = x[:, ::2], y[:, ::2], truth[::2]
    est = np.diag(mi.pairwise(x, y, method, seed=0))
    for rho in (*RHOS, 0.0):
        sel = np.isclose(truth, gaussian_mi(rho))
        assert abs(est[sel].mean() - truth[sel].mean()) <= tol, (method, rho)


def test_joint_gaussian_closed_form():
    """y = x1 + x2 + noise: I(X; y) = -1/2 ln(1 - R^2) with R^2 = 2 / (2 + s^2)."""
    rng = np.random.default_rng(1)
    n, s = 3000, 1.0
    x = rng.standard_normal((n, 3))
    y = np.column_stack([x[:, 0] + x[:, 1] + s * rng.standard_normal(n), rng.standard_normal(n)])
    truth = -0.5 * np.log(1 - 2 / (2 + s * s))
    g = mi.joint(x, y, "gcmi")
    assert abs(g[0] - truth) < 0.02 and g[1] < 0.01
    k = mi.joint(x, y, "ksg")
    assert abs(k[0] - truth) < 0.06 and k[1] < 0.03
    m = mi.joint(x, y, "mine")
    assert abs(m[0] - truth) < 0.08 and m[1] < 0.03

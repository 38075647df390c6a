"""Screening (issue #14): the two-stage mode sends only the GCMI screen's candidate edges to
MINE, which get exactly the values of a full run; the others keep the screen's value and the
``screened`` flag; bad combinations are one line naming the fix."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chi2

import nifgraph.mi as mi
from nifgraph.errors import ValidationError
from nifgraph.nif import estimate_nif, screen_candidates
from nifgraph.settings import EstimationSettings

from .conftest import invoke

FAST = {"steps": 100, "min_steps": 50, "eval_every": 25, "batch_size": 32, "final_shuffles": 4}


@pytest.fixture
def acts():
    rng = np.random.default_rng(3)
    a0 = rng.standard_normal((300, 4))
    a1 = np.maximum(a0[:, :2] @ rng.standard_normal((2, 3)) + 0.3 * rng.standard_normal((300, 3)), 0)
    a1 = np.column_stack([a1, rng.standard_normal(300), np.zeros(300)])  # an independent and a dead unit
    a2 = np.column_stack([np.tanh(a1[:, 0] - a1[:, 1]), rng.standard_normal(300)])
    return [a0, a1, a2]


def test_edges_mask_keeps_each_edge_value():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((200, 3)), rng.standard_normal((200, 2))
    y[:, 0] += x[:, 0]
    mask = np.array([[True, False], [False, True], [False, False]])
    full = mi.pairwise(x, y, seed=1, workers=1, **FAST)
    part = mi.pairwise(x, y, seed=1, workers=1, edges=mask, **FAST)
    np.testing.assert_allclose(part[mask], full[mask], atol=1e-6, rtol=0)
    assert np.all(part[~mask] == 0)
    with pytest.raises(ValidationError, match="'edges' parameter"):
        mi.pairwise(x, y, edges=np.ones((2, 2), dtype=bool))


def test_screen_candidates_are_the_gcmi_test():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((400, 2))
    q = np.column_stack([x[:, 0] + rng.standard_normal(400), rng.standard_normal(400), np.ones(400)])
    g, cand = screen_candidates(x, q, 0.05)
    assert cand[0, 0] and not cand[:, 2].any()
    np.testing.assert_array_equal(cand[:, :2], chi2.sf(800 * g[:, :2], 1) <= 0.05)


@pytest.mark.parametrize("null", [False, True])
def test_screened_run_equals_full_run_on_candidates(acts, null):
    kw = dict(seed=2, workers=1, device="cpu", null=null, **FAST)
    full = estimate_nif(acts, **kw)
    scr = estimate_nif(acts, screen="gcmi", **kw)
    for l, (f, s, flag) in enumerate(zip(full.values, scr.values, scr.extras["screened"], strict=True)):  # noqa: E741
        x, q = (acts[l], acts[l + 1]) if not null else (None, None)
        sent = flag == 0
        np.testing.assert_allclose(s[sent], f[sent], atol=1e-6, rtol=0)  # candidates (and dead edges): as a full run
        if x is not None:
            g, cand = screen_candidates(x, q, 0.05)
            live = ~np.all(x == x[:1], axis=0)[:, None] & ~np.all(q == q[:1], axis=0)[None, :]
            np.testing.assert_array_equal(flag == 1, live & ~cand)
            np.testing.assert_allclose(s[~sent], g[~sent])  # the others: the screen's value
    assert scr.screen["method"] == "gcmi" and scr.screen["edges"] == full.n_edges
    assert 0 < scr.screen["candidates"] < full.n_edges
    assert scr.screen["screened_out"] == int(sum(m.sum() for m in scr.extras["screened"]))
    if null:
        assert "q_value" in scr.extras


def test_screen_is_recorded_with_the_run():
    from nifgraph.store import open_store

    res = invoke("run", "--epochs", "3", "--steps", "60", "--screen", "gcmi", "--workers", "1", "--no-plot", "--json")
    assert res.exit_code == 0, res.output
    with open_store() as st:
        _, run = st.need_run("latest")
    assert run.settings["screen"]["method"] == "gcmi" and run.settings["screen"]["edges"] == 35


def test_screen_mistakes_are_one_line():
    with pytest.raises(ValidationError, match="screen"):
        EstimationSettings.build("ksg", screen="gcmi")
    with pytest.raises(ValidationError, match="variant pairwise"):
        EstimationSettings.build(screen="gcmi", variant="layer")
    with pytest.raises(ValidationError, match="'screen' parameter"):
        EstimationSettings.build(screen="fast")
    with pytest.raises(ValidationError, match="'screen_alpha' parameter"):
        EstimationSettings.build(screen="gcmi", screen_alpha=0)
    res = invoke("estimate", "latest", "--screen", "gcmi", "--estimator", "gcmi")
    assert res.exit_code == 1 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    res = invoke("estimate", "latest", "--screen-alpha", "0.2")  # a cut without a screen: refused
    assert res.exit_code == 1 and res.stderr.strip().splitlines() == [
        "ValidationError: --screen-alpha sets the cut of the two-stage screen: add --screen gcmi, or drop --screen-alpha."]

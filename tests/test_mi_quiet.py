"""The quiet-edge stopping rule of MINE / SMILE (issue #14): an edge whose best held-out bound is
below ``quiet_below`` nats stops after ``quiet_patience`` evaluations without gain instead of
``patience``. Checked on both training paths (the compiled loop and the batched ``bmm`` step)
against the rule it must equal and on pairs of known MI."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nifgraph.mi as mi
from nifgraph.errors import ValidationError
from nifgraph.mi import _kernel, _mine

FAST = {"steps": 300, "min_steps": 50, "eval_every": 25, "batch_size": 64, "final_shuffles": 8}
KERNELS = ["bmm"] + (["numba"] if _kernel.HAVE_NUMBA else [])


def _pairs(n=1500, rhos=(0.0, 0.0, 0.0, 0.9), seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, len(rhos)))
    y = np.column_stack([r * x[:, i] + math.sqrt(1 - r * r) * rng.standard_normal(n) for i, r in enumerate(rhos)])
    return x, y, np.array([-0.5 * math.log(1 - r * r) for r in rhos])


def _diag(x, y, kernel, **opts):
    est = mi.pairwise(x, y, "mine", seed=3, workers=1, kernel=kernel, edges=np.eye(x.shape[1], dtype=bool),
                      **{**FAST, **opts})
    return np.diag(est).copy(), _mine.LAST_RUN["steps"].copy()


@pytest.mark.parametrize("kernel", KERNELS)
def test_every_edge_quiet_is_the_plain_rule_with_the_quiet_patience(kernel):
    """A threshold above every bound makes every edge quiet: the rule is then the plain one with
    ``patience = quiet_patience``, value for value and step for step."""
    x, y, _ = _pairs()
    quiet, q_steps = _diag(x, y, kernel, patience=5, quiet_below=100.0, quiet_patience=2)
    plain, p_steps = _diag(x, y, kernel, patience=2, quiet_below=0.0)
    np.testing.assert_array_equal(q_steps, p_steps)
    np.testing.assert_array_equal(quiet, plain)
    off, o_steps = _diag(x, y, kernel, patience=5, quiet_below=0.0)
    assert (o_steps >= q_steps).all() and o_steps.sum() > q_steps.sum()  # patience 5 trains longer


@pytest.mark.parametrize("kernel", KERNELS)
def test_quiet_edges_stop_early_and_informative_edges_are_untouched(kernel):
    """Independent pairs (MI 0) stop at the first evaluation without gain after ``min_steps``;
    the rho = 0.9 pair (0.83 nats, far above the threshold) trains exactly as without the rule."""
    x, y, truth = _pairs()
    on, s_on = _diag(x, y, kernel, patience=6, quiet_below=0.01, quiet_patience=1)
    off, s_off = _diag(x, y, kernel, patience=6, quiet_below=0.0)
    assert s_on[3] == s_off[3] and on[3] == off[3]
    assert abs(on[3] - truth[3]) < 0.08
    assert (s_on[:3] <= s_off[:3]).all() and s_on[:3].sum() < s_off[:3].sum()
    assert (s_on % FAST["eval_every"] == 0).all() and (s_on >= FAST["min_steps"]).all()
    assert np.abs(on[:3]).max() < 0.02  # still an estimate of 0


def test_the_defaults_use_the_rule():
    assert _mine.DEFAULTS["quiet_below"] > 0 and _mine.DEFAULTS["quiet_patience"] < _mine.DEFAULTS["patience"]


@pytest.mark.parametrize(("opts", "match"), [
    ({"quiet_below": -0.1}, "quiet_below"),
    ({"quiet_below": float("nan")}, "quiet_below"),
    ({"quiet_patience": 0}, "quiet_patience"),
    ({"quiet_patience": 1.5}, "quiet_patience"),
])
def test_bad_quiet_options_are_one_clear_error(opts, match):
    x, y, _ = _pairs(n=200)
    with pytest.raises(ValidationError, match=match):
        mi.pairwise(x, y, "mine", **opts)

"""Unit-level information tests: does a hidden unit carry information about its whole input
layer, and to its whole output layer?

Why unit level
--------------
The per-edge flow rule (:func:`nifgraph.analysis.local.prunable`) calls a unit prunable when
*every* incoming or *every* outgoing edge is indistinguishable from 0. In a wide layer each
edge carries little (a unit of a 64-32-3 network shares each logit with 31 others, a few
thousandths of a nat per edge), so per-edge permutation tests lack power and live units
get flagged (reported on a 64-32-3 network with KSG and the null: 22 of 32 live units,
accuracy 0.990 → 0.743; ``scripts/bench_decisions.py`` re-measures it). Testing the unit
against the *whole* neighbouring layer at once pools that evidence into one statistic.

Method
------
For hidden unit ``j`` of layer ``l`` (activations ``A_l``, shape (N, n_l)):

* ``mi_in[j]  = I(A_{l-1} ; h_j)`` -- the joint MI between the whole previous layer and the unit;
* ``mi_out[j] = I(h_j ; A_{l+1})`` -- the joint MI between the unit and the whole next layer.

Both are Gaussian-copula MI (Ince et al. 2017): every column is mapped to normal scores by
rank with random tie-breaking (:func:`nifgraph.significance.tie_broken_scores`), and
``I = -½ ln(1 - R²)`` with ``R²`` the squared multiple correlation of the unit's scores on
the layer's scores (least squares on the live columns). It is exact for a Gaussian copula
and a lower bound otherwise (it sees monotone, not arbitrary, dependence) -- a lower bound
errs towards "no information", and step two of a recommendation re-checks every candidate by
removing it (:mod:`nifgraph.analysis.recommend`). It is closed form, so a large permutation null is
cheap.

Null and p-values: after tie-broken normal scores every live unit column is a permutation of
the same vector of normal quantiles, so under independence every unit of a layer sees the
same null distribution of ``R²`` (which depends only on N and the other layer's scores).
One pooled null of ``M`` draws (default 2000) per layer and side -- the quantile vector in a
random order, regressed on the same layer scores -- serves every unit; the p-value is
``(1 + #{null ≥ obs}) / (1 + M)``. Constant (dead) units and units facing a layer with no
live column get ``mi = 0`` and ``p = 1``. Multiple testing: Benjamini-Hochberg over all
``2 × n_hidden`` p-values. A unit is *informative* when both its tests are significant at
``alpha``; otherwise it is a pruning candidate (no information in, or none out), mirroring
the flow rule.

Limitation: ``mi_out`` measures dependence between the unit and the next layer's *values*;
a unit with zero outgoing weights that is correlated with a live neighbour still looks
informative (the next layer depends on the neighbour). The test finds units that carry no
information; which units the network does not *need* is decided by removal
(:mod:`nifgraph.analysis.recommend`, :mod:`nifgraph.analysis.importance`).

Pure: arrays in, a frozen dataclass out.

References
----------
Ince et al., "A statistical framework for neuroimaging data analysis based on mutual
information estimated via a gaussian copula", Human Brain Mapping 38 (2017).
Benjamini & Hochberg, "Controlling the false discovery rate", JRSS B 57 (1995).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ValidationError, param_error
from ..significance import DEFAULT_ALPHA, bh_qvalues, permutation_pvalues, tie_broken_scores

__all__ = ["DEFAULT_UNIT_NULL_DRAWS", "UnitInformation", "unit_information"]

#: Default size of each pooled permutation null (one per hidden layer and side).
DEFAULT_UNIT_NULL_DRAWS = 2000
_R2_MAX = 1.0 - 1e-12
_SEED_UNIT_NULL = 3571


@dataclass(frozen=True)
class UnitInformation:
    """Unit-level tests of every hidden unit, in the flat order of ``units``.

    ``mi_in``, ``mi_out`` (nats), ``p_in``, ``p_out``, ``q_in``, ``q_out``: arrays of shape
    (n_hidden,). ``informative``: both tests significant at ``alpha``.
    """

    units: tuple[tuple[int, int], ...]
    mi_in: np.ndarray = field(repr=False)
    mi_out: np.ndarray = field(repr=False)
    p_in: np.ndarray = field(repr=False)
    p_out: np.ndarray = field(repr=False)
    q_in: np.ndarray = field(repr=False)
    q_out: np.ndarray = field(repr=False)
    alpha: float = DEFAULT_ALPHA
    null_draws: int = DEFAULT_UNIT_NULL_DRAWS
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def informative(self) -> np.ndarray:
        """Bool (n_hidden,): information in *and* out, both at FDR ``alpha``."""
        return (self.q_in <= self.alpha) & (self.q_out <= self.alpha)

    @property
    def candidates(self) -> tuple[tuple[int, int], ...]:
        """Units with no significant information in or no significant information out."""
        return tuple(u for u, ok in zip(self.units, self.informative, strict=True) if not ok)

    def to_dict(self) -> dict[str, Any]:
        return {
            "units": [list(u) for u in self.units],
            "mi_in": self.mi_in.tolist(), "mi_out": self.mi_out.tolist(),
            "p_in": self.p_in.tolist(), "p_out": self.p_out.tolist(),
            "q_in": self.q_in.tolist(), "q_out": self.q_out.tolist(),
            "informative": self.informative.tolist(), "candidates": [list(u) for u in self.candidates],
            "alpha": self.alpha, "null_draws": self.null_draws, "settings": self.settings,
        }


def _r2(zx: np.ndarray, zy: np.ndarray) -> np.ndarray:
    """Squared multiple correlation of every column of ``zy`` (N, b) on all of ``zx`` (N, a),
    both standardised; shape (b,)."""
    n = zx.shape[0]
    sxx = zx.T @ zx / n  # (a, a)
    sxy = zx.T @ zy / n  # (a, b)
    coef = np.linalg.solve(sxx + 1e-9 * np.eye(sxx.shape[0]), sxy)  # tiny ridge: collinear columns
    syy = np.maximum((zy * zy).mean(axis=0), 1e-300)  # (b,) normal-score variance, just under 1
    return np.clip(np.sum(sxy * coef, axis=0) / syy, 0.0, _R2_MAX)


def _side(z_unit: np.ndarray, live_unit: np.ndarray, z_other: np.ndarray, draws: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """MI and p-value of every unit column against the whole ``z_other`` layer."""
    n_units = z_unit.shape[1]
    mi, p = np.zeros(n_units), np.ones(n_units)
    live_other = np.any(z_other != 0.0, axis=0)
    zo = z_other[:, live_other]
    if zo.shape[1] == 0 or not live_unit.any():
        return mi, p
    if zo.shape[1] >= z_unit.shape[0] - 1:
        raise ValidationError(
            f"A unit-level test regresses on {zo.shape[1]} columns with only {z_unit.shape[0]} samples; "
            "record at least twice as many samples as the widest layer."
        )
    mi[live_unit] = -0.5 * np.log1p(-_r2(zo, z_unit[:, live_unit]))
    base = np.sort(z_unit[:, np.flatnonzero(live_unit)[0]])  # the shared quantile vector
    null_y = rng.permuted(np.repeat(base[:, None], draws, axis=1), axis=0)  # (N, M)
    null = np.sort(-0.5 * np.log1p(-_r2(zo, null_y)))
    p[live_unit] = permutation_pvalues(mi[live_unit], null)
    return mi, p


def unit_information(
    acts: Sequence[np.ndarray],
    *,
    null_draws: int = DEFAULT_UNIT_NULL_DRAWS,
    alpha: float = DEFAULT_ALPHA,
    seed: int = 0,
    pairs: Sequence[tuple[int, int]] | None = None,
) -> UnitInformation:
    """Unit-level information tests of every hidden unit (method in the module docstring).

    Parameters
    ----------
    acts : list of ndarray
        Every layer's values on the same samples, ``acts[l]`` of shape (n_samples, n_l):
        inputs, hidden layers, logits (:meth:`nifgraph.network.Network.forward_layers`).
    null_draws : int
        Size of each pooled permutation null (≥ 100; the smallest p-value is 1 / (1 + M)).
    alpha : float
        FDR level of the Benjamini-Hochberg decision, in (0, 1).
    seed : int
        Seeds the tie-breaking and the permutations.
    pairs : list of (source layer, target layer), optional
        The layer pairs the network joins directly (a DAG model's
        :attr:`nifgraph.dag.FlowDag.pairs`, skips included); default a chain's ``(l, l + 1)``.
        A unit's "input layer" is then every layer that feeds its own (their columns side by
        side), its "output layer" every layer its own feeds: on a residual block the unit is
        tested against what reaches it and what reads it, over the skip as well.

    Returns
    -------
    UnitInformation
    """
    if isinstance(acts, np.ndarray) or len(acts) < 3:
        raise ValidationError(
            "acts must be a list of at least 3 layers (inputs, hidden…, outputs); pass net.forward_layers(x)."
        )
    if isinstance(null_draws, bool) or not isinstance(null_draws, (int, np.integer)) or null_draws < 100:
        raise param_error("null_draws", "unit_information", "an int ≥ 100", null_draws)
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise param_error("alpha", "unit_information", "in (0, 1)", alpha)
    arrs = [np.asarray(a, dtype=np.float64) for a in acts]
    n = arrs[0].shape[0]
    if any(a.ndim != 2 or a.shape[0] != n for a in arrs) or n < 3:
        raise ValidationError(
            "Every layer in acts must be (n_samples, n_l) with the same n_samples ≥ 3; pass net.forward_layers(x)."
        )
    if not all(np.isfinite(a).all() for a in arrs):
        raise ValidationError("acts contain NaN or infinite values; check the network and inputs.")
    z = [tie_broken_scores(a, seed + 101 * i) for i, a in enumerate(arrs)]  # (N, n_l) each
    live = [~np.all(a == a[:1], axis=0) for a in arrs]
    rng = np.random.default_rng([int(seed), _SEED_UNIT_NULL])
    units: list[tuple[int, int]] = []
    parts: dict[str, list[np.ndarray]] = {"mi_in": [], "p_in": [], "mi_out": [], "p_out": []}
    joined = [(i, i + 1) for i in range(len(arrs) - 1)] if pairs is None else [(int(a), int(b)) for a, b in pairs]
    for layer in range(1, len(arrs) - 1):
        units += [(layer, i) for i in range(arrs[layer].shape[1])]
        empty = [np.zeros((n, 0))]  # a layer nothing reads: no information out
        z_in = np.hstack(empty + [z[a] for a, b in joined if b == layer])
        z_out = np.hstack(empty + [z[b] for a, b in joined if a == layer])
        mi_in, p_in = _side(z[layer], live[layer], z_in, int(null_draws), rng)
        mi_out, p_out = _side(z[layer], live[layer], z_out, int(null_draws), rng)
        for k, v in (("mi_in", mi_in), ("p_in", p_in), ("mi_out", mi_out), ("p_out", p_out)):
            parts[k].append(v)
    cat = {k: np.concatenate(v) for k, v in parts.items()}
    h = cat["p_in"].size
    q = bh_qvalues(np.concatenate([cat["p_in"], cat["p_out"]]))
    return UnitInformation(
        units=tuple(units), mi_in=cat["mi_in"], mi_out=cat["mi_out"], p_in=cat["p_in"], p_out=cat["p_out"],
        q_in=q[:h], q_out=q[h:], alpha=float(alpha), null_draws=int(null_draws),
        settings={
            "estimator": "gaussian-copula joint MI, -1/2 ln(1 - R^2), tie-broken normal scores",
            "null": "pooled permutation null per hidden layer and side",
            "multiple_testing": "benjamini-hochberg over both tests of every hidden unit",
            "n_samples": int(n), "seed": int(seed),
        },
    )

"""The settings of each stage, built and validated once at the boundary and passed down whole.

* :class:`EstimationSettings` -- which estimator, on which samples, with which seed, β,
  variant, estimator options and significance (:class:`~nifgraph.significance.SignificanceSpec`),
  on how many worker processes and which device (or which Ray cluster).
* :class:`AnalysisSettings` -- resolution γ, the prunable threshold, the significance filter
  α, the Louvain seed and the engine; :meth:`AnalysisSettings.resolved` fills the defaults
  that depend on the run (α = 0.05 and threshold 0 when the run has q-values).

Every bad value gets the one message template of :func:`nifgraph.errors.param_error`
("The 'x' parameter of Y must be … Got … instead.").
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import ValidationError, param_error
from .significance import DEFAULT_ALPHA, DEFAULT_NULL_DRAWS, SignificanceSpec

__all__ = [
    "DEFAULT_GAMMA",
    "DEFAULT_THRESHOLD",
    "DEFAULT_TOLERANCE",
    "ENGINES",
    "SPLITS",
    "EstimationSettings",
    "AnalysisSettings",
]

#: Default NIF threshold (nats) at or under which a hidden neuron's in- or out-flow counts as
#: none: about the MINE noise floor on independent pairs (0.01-0.06 nats around a true 0).
DEFAULT_THRESHOLD = 0.02
#: Default Louvain resolution.
DEFAULT_GAMMA = 1.0
#: Largest held-out accuracy drop a pruning recommendation may cost (half a point: under one
#: held-out sample on the iris, wine and breast-cancer test splits, 2-3 on digits and banknote,
#: and below the ~1-point spread of retraining; see :mod:`nifgraph.analysis.recommend`).
DEFAULT_TOLERANCE = 0.005
ENGINES = ("auto", "local", "gds")
SPLITS = ("all", "train", "test")


def _real(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(float(v))


@dataclass(frozen=True)
class EstimationSettings:
    """How a run's NIF is estimated (validated by :meth:`validate`)."""

    estimator: str = "mine"
    split: str = "all"
    seed: int = 0
    beta: float = 0.0
    variant: str = "pairwise"
    options: dict[str, Any] = field(default_factory=dict)
    significance: SignificanceSpec = field(default_factory=SignificanceSpec)
    #: worker processes (None = every core); the values do not depend on it
    workers: int | None = None
    #: where the neural estimators run: "auto" (a GPU when torch sees one), "cpu", "cuda"
    device: str = "auto"
    #: a Ray cluster for the neural estimators ("local", "auto", "HOST:PORT"), or None
    ray: str | None = None
    #: two-stage mode: a fast screen ("gcmi") sends only its candidate edges to MINE/SMILE
    screen: str | None = None
    #: the screen's p-value cut
    screen_alpha: float = 0.05
    #: a conv channel's samples on DAG models: "mean" over positions, or "positions" (each
    #: position a sample between conv layers of one spatial size; :mod:`nifgraph.dag`)
    conv_samples: str = "mean"
    #: position samples drawn at most per spatial size (None: ``dag.MAX_POSITION_SAMPLES``)
    max_positions: int | None = None

    @classmethod
    def build(
        cls,
        estimator: str = "mine",
        *,
        split: str = "all",
        seed: int = 0,
        beta: float = 0.0,
        variant: str = "pairwise",
        options: dict[str, Any] | None = None,
        null: bool = False,
        null_draws: int | None = None,
        bootstrap: int = 0,
        bias_correct: bool = False,
        workers: int | None = None,
        device: str = "auto",
        ray: str | None = None,
        screen: str | None = None,
        screen_alpha: float = 0.05,
        conv_samples: str = "mean",
        max_positions: int | None = None,
    ) -> EstimationSettings:
        """Settings from flat values (as the CLI has them), validated."""
        sig = SignificanceSpec(
            null=null, null_draws=DEFAULT_NULL_DRAWS if null_draws is None else null_draws,
            bootstrap=bootstrap, bias_correct=bias_correct,
        )
        return cls(estimator, split, seed, beta, variant, dict(options or {}), sig, workers, device, ray, screen, screen_alpha,
                   conv_samples, max_positions).validate()

    def validate(self) -> EstimationSettings:
        from . import mi
        from .nif import VARIANTS, check_screen

        owner = "the estimation"
        if self.estimator not in mi.METHODS:
            raise param_error("estimator", owner, f"one of {', '.join(mi.METHODS)}", self.estimator)
        if self.variant not in VARIANTS:
            raise param_error("variant", owner, f"one of {', '.join(VARIANTS)}", self.variant)
        if self.split not in SPLITS:
            raise param_error("split", owner, f"one of {', '.join(SPLITS)}", self.split)
        if not (_real(self.beta) and self.beta >= 0):
            raise param_error("beta", owner, "a number ≥ 0", self.beta)
        if isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral):
            raise param_error("seed", owner, "an integer", self.seed)
        self.significance.validate(owner, self.variant)
        mi.check_where(self.workers, self.device, owner, ray=self.ray)
        check_screen(self.screen, self.screen_alpha, self.estimator, self.variant, owner)
        opts = mi.check_options(self.estimator, dict(self.options), f"the {self.estimator} estimator")
        mi.check_kernel(opts, self.device, f"the {self.estimator} estimator", self.ray)
        self._check_conv_samples(owner)
        return self

    def _check_conv_samples(self, owner: str) -> None:
        from .dag import CONV_SAMPLES

        if self.conv_samples not in CONV_SAMPLES:
            raise param_error("conv_samples", owner, f"one of {', '.join(CONV_SAMPLES)}", self.conv_samples)
        m = self.max_positions
        if m is not None and (isinstance(m, bool) or not isinstance(m, numbers.Integral) or not 10 <= m <= 10_000_000):
            raise param_error("max_positions", owner, "an integer in [10, 10,000,000]", m)
        if self.conv_samples == "positions" and self.significance.active:
            raise ValidationError(
                "--conv-samples positions cannot be combined with --null or --bootstrap: positions of one image are not "
                "independent samples, so a null that shuffles them would be anti-conservative; use --conv-samples mean."
            )


@dataclass(frozen=True)
class AnalysisSettings:
    """How a run is analysed (validated by :meth:`validate`).

    ``threshold`` and ``alpha`` may be ``None`` ("the default for this run");
    :meth:`resolved` turns them into numbers once the run is known.
    """

    gamma: float = DEFAULT_GAMMA
    threshold: float | None = None
    alpha: float | None = None
    seed: int = 0
    engine: str = "auto"
    tolerance: float = DEFAULT_TOLERANCE

    def validate(self) -> AnalysisSettings:
        owner = "the analysis"
        if not (_real(self.gamma) and self.gamma > 0):
            raise param_error("gamma", owner, "a positive number", self.gamma)
        if self.threshold is not None and not (_real(self.threshold) and self.threshold >= 0):
            raise param_error("threshold", owner, "a number of nats ≥ 0", self.threshold)
        if self.alpha is not None and not (_real(self.alpha) and 0 < self.alpha <= 1):
            raise param_error("alpha", owner, "in (0, 1] (1 turns the filter off)", self.alpha)
        if self.engine not in ENGINES:
            raise param_error("engine", owner, f"one of {', '.join(ENGINES)}", self.engine)
        if isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral):
            raise param_error("seed", owner, "an integer", self.seed)
        if not (_real(self.tolerance) and 0 <= self.tolerance < 1):
            raise param_error("tolerance", owner, "an accuracy drop in [0, 1)", self.tolerance)
        return self

    def resolved(self, has_null: bool) -> AnalysisSettings:
        """The defaults filled for a run with (``has_null``) or without q-values.

        α: :data:`~nifgraph.significance.DEFAULT_ALPHA` when the run has q-values, else
        none; α = 1 turns the filter off. Threshold: 0 when the filter is on (a neuron is
        then prunable when dead or without a significant edge in or out), else
        :data:`DEFAULT_THRESHOLD`."""
        self.validate()
        alpha = self.alpha
        if alpha is None:
            alpha = DEFAULT_ALPHA if has_null else None
        elif alpha >= 1:
            alpha = None
        threshold = self.threshold
        if threshold is None:
            threshold = 0.0 if alpha is not None else DEFAULT_THRESHOLD
        return replace(self, alpha=alpha, threshold=float(threshold))

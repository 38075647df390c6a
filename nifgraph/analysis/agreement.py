"""Do two runs of the same model (another estimator, another seed) tell the same story?
Rank correlation of the edge values, share of agreeing significance decisions, and the
edges whose decision flips."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ValidationError, param_error
from ..significance import DEFAULT_ALPHA
from ..store.base import Store

__all__ = ["Agreement", "agreement", "run_agreement"]

_KEY = ["src_layer", "src_idx", "dst_layer", "dst_idx"]


@dataclass(frozen=True)
class Agreement:
    """How far two runs of the same model agree.

    ``spearman``: rank correlation of the edge values; ``decision_agreement``: share of
    edges whose significance decision (``q ≤ alpha``) is the same in both runs (NaN when a
    run has no q-values); ``flips``: the edges whose decision differs, with neuron names.
    """

    run_a: str
    run_b: str
    n_edges: int
    spearman: float
    alpha: float
    has_decisions: bool
    decision_agreement: float
    n_significant_a: int
    n_significant_b: int
    flips: pd.DataFrame = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_a": self.run_a, "run_b": self.run_b, "n_edges": self.n_edges,
            "spearman": self.spearman, "alpha": self.alpha, "has_decisions": self.has_decisions,
            "decision_agreement": self.decision_agreement,
            "n_significant_a": self.n_significant_a, "n_significant_b": self.n_significant_b,
            "n_flips": int(len(self.flips)), "flips": self.flips.to_dict(orient="records"),
        }


def agreement(
    edges_a: pd.DataFrame,
    edges_b: pd.DataFrame,
    *,
    alpha: float = DEFAULT_ALPHA,
    neurons: pd.DataFrame | None = None,
    run_a: str = "a",
    run_b: str = "b",
) -> Agreement:
    """Compare the edge tables (``EDGE_COLUMNS``) of two runs of the same model.

    ``neurons`` (``NEURON_COLUMNS``) names the flipping edges' ends.
    """
    from scipy.stats import spearmanr

    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise param_error("alpha", "agreement", "in (0, 1)", alpha)
    cols = [*_KEY, "value", "q_value"]
    m = edges_a[cols].merge(edges_b[cols], on=_KEY, how="outer", suffixes=("_a", "_b"), indicator=True)
    if not (m["_merge"] == "both").all():
        raise ValidationError(
            f"Runs {run_a} and {run_b} do not have the same edges; compare two runs of the same model."
        )
    m = m.drop(columns="_merge").sort_values(_KEY).reset_index(drop=True)
    va, vb = m["value_a"].to_numpy(float), m["value_b"].to_numpy(float)
    rho = float("nan")
    if len(m) > 1 and np.ptp(va) > 0 and np.ptp(vb) > 0:
        rho = float(spearmanr(va, vb).statistic)
    qa, qb = m["q_value_a"].to_numpy(float), m["q_value_b"].to_numpy(float)
    has = bool(len(m)) and not (np.isnan(qa).any() or np.isnan(qb).any())
    sig_a, sig_b = qa <= alpha, qb <= alpha
    flip = (sig_a != sig_b) if has else np.zeros(len(m), dtype=bool)
    flips = m[flip].assign(significant_a=sig_a[flip], significant_b=sig_b[flip])
    if neurons is not None and len(flips):
        names = neurons.set_index(["layer", "idx"])["name"].astype(str)
        src = pd.MultiIndex.from_arrays([flips["src_layer"], flips["src_idx"]])
        dst = pd.MultiIndex.from_arrays([flips["dst_layer"], flips["dst_idx"]])
        flips = flips.assign(
            src_name=names.reindex(src).to_numpy(), dst_name=names.reindex(dst).to_numpy()
        )
    return Agreement(
        run_a=run_a,
        run_b=run_b,
        n_edges=int(len(m)),
        spearman=rho,
        alpha=float(alpha),
        has_decisions=has,
        decision_agreement=float(np.mean(~flip)) if has else float("nan"),
        n_significant_a=int(sig_a.sum()) if has else 0,
        n_significant_b=int(sig_b.sum()) if has else 0,
        flips=flips.reset_index(drop=True),
    )


def run_agreement(store: Store, ref_a: str, ref_b: str, *, alpha: float = DEFAULT_ALPHA) -> Agreement:
    """:func:`agreement` of two stored runs (ids, prefixes or model ids: their newest run)."""
    (ma, ra), (mb, rb) = store.need_run(ref_a), store.need_run(ref_b)
    if ma.model_id != mb.model_id:
        raise ValidationError(
            f"Runs {ra.run_id} and {rb.run_id} belong to different models ({ma.model_id}, "
            f"{mb.model_id}); agreement compares two runs of the same model."
        )
    return agreement(
        store.get_edges(ra.run_id), store.get_edges(rb.run_id), alpha=alpha,
        neurons=store.get_neurons(ma.model_id), run_a=ra.run_id, run_b=rb.run_id,
    )

"""Pruning curves: held-out accuracy against the number of hidden neurons removed, for
NIF-guided orders and the usual baselines.

A neuron is removed as :func:`nifgraph.network.pruned` does (its incoming weights, bias and
outgoing weights set to zero), exactly as the main job's pruning check. Every order removes
the *least* important neuron first; each method scores every hidden neuron:

``nif``          total NIF in-flow × total NIF out-flow (nats²): a neuron that receives no
                 information or passes none on scores 0 (dead neurons score 0).
``betweenness``  weighted betweenness on the NIF flow graph (shortest path = path of largest
                 NIF product, :func:`nifgraph.analysis.local.betweenness`).
``magnitude``    L2 norm of the neuron's incoming and outgoing weights together.
``random``       a uniformly random order (one per seed).

Orders are global over all hidden layers. Scores are first divided by the mean score of the
neuron's layer, so that layers of different width and fan-in (whose NIF sums and weight norms
live on different scales) compete on equal terms. Ties (e.g. many neurons with betweenness 0)
are broken at random by the seed; deterministic methods therefore vary a little across seeds.

:func:`prune_curves` is pure (arrays and a :class:`~nifgraph.network.Network` in, a
:class:`PruneCurves` out); :func:`prune_curve_for_model` reads a stored model through the
store interface and its checkpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ValidationError
from ..store.base import Store

__all__ = [
    "PRUNE_METHODS",
    "hidden_neurons",
    "nif_scores",
    "magnitude_scores",
    "betweenness_scores",
    "layer_normalized",
    "prune_order",
    "pruning_curve",
    "PruneCurves",
    "prune_curves",
    "prune_curve_for_model",
]

PRUNE_METHODS: tuple[str, ...] = ("nif", "betweenness", "magnitude", "random")


#: Upper bound on ``seeds``: each seed re-evaluates the network once per k and method.
MAX_SEEDS = 1000

def hidden_neurons(sizes: Sequence[int]) -> list[tuple[int, int]]:
    """Every hidden neuron ``(layer, idx)`` in layer order."""
    if len(sizes) < 3:
        raise ValidationError(f"Pruning needs at least one hidden layer; got layer sizes {list(sizes)}.")
    return [(layer, i) for layer in range(1, len(sizes) - 1) for i in range(int(sizes[layer]))]


def _sizes(mats: Sequence[np.ndarray]) -> tuple[int, ...]:
    return (int(np.shape(mats[0])[0]), *(int(np.shape(m)[1]) for m in mats))


def nif_scores(mats: Sequence[np.ndarray]) -> np.ndarray:
    """In-flow × out-flow of every hidden neuron, shape (n_hidden,), layer order."""
    out = []
    for layer in range(1, len(mats)):
        in_flow = np.asarray(mats[layer - 1], dtype=np.float64).sum(axis=0)  # (n_layer,)
        out_flow = np.asarray(mats[layer], dtype=np.float64).sum(axis=1)  # (n_layer,)
        out.append(in_flow * out_flow)
    return np.concatenate(out)


def magnitude_scores(weights: Sequence[np.ndarray]) -> np.ndarray:
    """L2 norm of in- and out-weights of every hidden neuron, shape (n_hidden,).

    ``weights[l]`` is Linear ``l``'s weight, shape (n_{l+1}, n_l) as torch stores it.
    """
    out = []
    for layer in range(1, len(weights)):
        w_in = np.asarray(weights[layer - 1], dtype=np.float64)  # (n_layer, n_prev)
        w_out = np.asarray(weights[layer], dtype=np.float64)  # (n_next, n_layer)
        out.append(np.sqrt((w_in**2).sum(axis=1) + (w_out**2).sum(axis=0)))
    return np.concatenate(out)


def betweenness_scores(mats: Sequence[np.ndarray]) -> np.ndarray:
    """Weighted betweenness of every hidden neuron on the NIF flow graph, shape (n_hidden,)."""
    from .local import betweenness, layer_offsets

    sizes = _sizes(mats)
    off = layer_offsets(sizes)
    return betweenness(mats)[off[1] : off[-2]]


def layer_normalized(scores: np.ndarray, sizes: Sequence[int]) -> np.ndarray:
    """Each hidden layer's scores divided by that layer's mean (a layer of zeros stays zero)."""
    s = np.asarray(scores, dtype=np.float64).copy()
    start = 0
    for n in sizes[1:-1]:
        seg = s[start : start + int(n)]
        mean = seg.mean()
        if mean > 0:
            s[start : start + int(n)] = seg / mean
        start += int(n)
    return s


def prune_order(scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``scores`` from lowest to highest, ties broken at random."""
    s = np.asarray(scores, dtype=np.float64)
    return np.lexsort((rng.random(s.size), s))


def pruning_curve(
    net: Any, x: np.ndarray, y: np.ndarray, neurons: Sequence[tuple[int, int]], ks: Sequence[int]
) -> np.ndarray:
    """Accuracy of ``net`` on (x, y) after removing the first ``k`` of ``neurons``, per k."""
    from ..network import accuracy, pruned

    out = []
    for k in ks:
        k = int(k)
        if not 0 <= k <= len(neurons):
            raise ValidationError(f"Cannot remove {k} neurons out of {len(neurons)}.")
        out.append(accuracy(pruned(net, list(neurons[:k])), x, y) if k else accuracy(net, x, y))
    return np.asarray(out)


@dataclass(frozen=True)
class PruneCurves:
    """Accuracy after removing ``ks[i]`` neurons: ``accuracy[method]`` is (n_seeds, len(ks))."""

    ks: np.ndarray
    accuracy: dict[str, np.ndarray] = field(repr=False)
    n_hidden: int
    seeds: int
    flagged: tuple[tuple[int, int], ...] = ()
    accuracy_flagged: float = float("nan")
    settings: dict[str, Any] = field(default_factory=dict)

    def mean(self, method: str) -> np.ndarray:
        return self.accuracy[method].mean(axis=0)

    def auc(self, method: str) -> float:
        """Mean accuracy over the curve (area under it with x scaled to [0, 1]); higher = the
        order removes harmless neurons first."""
        m = self.mean(method)
        x = self.ks / max(1, int(self.ks[-1]))
        return float(np.sum((m[1:] + m[:-1]) / 2.0 * np.diff(x))) if len(m) > 1 else float(m[0])

    def removable(self, method: str, tolerance: float = 0.01) -> float:
        """Largest k (mean over seeds of the per-seed value) whose accuracy stays within
        ``tolerance`` of the unpruned accuracy, with every smaller k also within it."""
        acc = self.accuracy[method]
        base = acc[:, :1]
        ok = acc >= base - tolerance - 1e-12
        first_bad = np.where(ok.all(axis=1), len(self.ks), np.argmin(ok, axis=1))
        return float(np.mean([self.ks[max(0, i - 1)] for i in first_bad]))

    def table(self) -> pd.DataFrame:
        """Long form: method, k, mean and sd of the accuracy over seeds."""
        rows = []
        for m, acc in self.accuracy.items():
            for i, k in enumerate(self.ks):
                rows.append(dict(method=m, k=int(k), mean=float(acc[:, i].mean()), sd=float(acc[:, i].std())))
        return pd.DataFrame(rows)

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame(
            [dict(method=m, auc=self.auc(m), removable_1pt=self.removable(m)) for m in self.accuracy]
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "ks": self.ks.tolist(), "n_hidden": self.n_hidden, "seeds": self.seeds,
            "accuracy": {m: a.tolist() for m, a in self.accuracy.items()},
            "summary": self.summary().to_dict(orient="records"),
            "flagged": [list(n) for n in self.flagged], "accuracy_flagged": self.accuracy_flagged,
            "settings": self.settings,
        }


def prune_curves(
    net: Any,
    mats: Sequence[np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    *,
    seeds: int = 5,
    ks: Sequence[int] | None = None,
    methods: Sequence[str] = PRUNE_METHODS,
    flagged: Sequence[tuple[int, int]] = (),
) -> PruneCurves:
    """Pruning curves of every method over ``seeds`` seeds.

    Parameters
    ----------
    net : nifgraph.network.Network
    mats : NIF matrices (n_l, n_{l+1}) of the same network
    x, y : held-out samples
    ks : numbers of neurons removed (default: every k from 0 to all hidden neurons, or 25
        evenly spaced values for wide networks)
    flagged : NIF-flagged prunable neurons; their joint removal is measured as well
    """
    from ..network import accuracy, pruned

    if not 1 <= int(seeds) <= MAX_SEEDS:
        raise ValidationError(f"seeds must be an integer in [1, {MAX_SEEDS}]; got {seeds!r}.")
    sizes = tuple(int(s) for s in net.layer_sizes)
    if _sizes(mats) != sizes:
        raise ValidationError(f"NIF matrices give layer sizes {_sizes(mats)} but the network has {sizes}.")
    unknown = [m for m in methods if m not in PRUNE_METHODS]
    if unknown:
        raise ValidationError(f"Unknown pruning method(s) {unknown}; choose from {', '.join(PRUNE_METHODS)}.")
    neurons = hidden_neurons(sizes)
    h = len(neurons)
    if ks is None:
        ks = range(h + 1) if h <= 24 else np.unique(np.linspace(0, h, 25).round().astype(int))
    ks_arr = np.asarray(sorted({int(k) for k in ks}))
    raw = {
        "nif": lambda: nif_scores(mats),
        "betweenness": lambda: betweenness_scores(mats),
        "magnitude": lambda: magnitude_scores([lin.weight.detach().numpy() for lin in net.linears]),
        "random": lambda: np.zeros(h),
    }
    scores = {m: layer_normalized(raw[m](), sizes) for m in methods}
    curves: dict[str, np.ndarray] = {}
    for m in methods:
        rows = []
        for s in range(int(seeds)):
            order = prune_order(scores[m], np.random.default_rng(1000 * s + 17))
            rows.append(pruning_curve(net, x, y, [neurons[i] for i in order], ks_arr))
        curves[m] = np.asarray(rows)
    acc_flag = accuracy(pruned(net, list(flagged)), x, y) if flagged else float("nan")
    return PruneCurves(
        ks=ks_arr, accuracy=curves, n_hidden=h, seeds=int(seeds), flagged=tuple(flagged),
        accuracy_flagged=acc_flag,
        settings={"score_normalisation": "divided by the layer's mean", "ties": "random by seed"},
    )


def prune_curve_for_model(store: Store, ref: str, *, seeds: int = 5, ks: Sequence[int] | None = None) -> PruneCurves:
    """:func:`prune_curves` for a stored model's newest analysed run, on its held-out split."""
    from ..nif import matrices_from_edges
    from ..stored import load_model_network, model_dataset
    model, run, analysis = store.need_analysis(ref)
    net = load_model_network(model)
    ds = model_dataset(model)
    mats = matrices_from_edges(store.get_edges(run.run_id), model.layer_sizes, "value")
    res = prune_curves(net, mats, ds.x_test, ds.y_test, seeds=seeds, ks=ks, flagged=analysis.prunable)
    res.settings.update(model_id=model.model_id, run_id=run.run_id, estimator=run.estimator)
    return res

"""Pruning curves: held-out accuracy against the number of hidden neurons removed, for
importance orders and the usual baselines.

Removal
-------
A neuron is removed with the **mean fold** by default (``removal="mean"``,
:mod:`nifgraph.analysis.removal`): its weights are zeroed and its mean output on the reference
inputs (the training split; the held-out inputs when none are given) times its outgoing
weights is added to the next layer's bias, i.e. the neuron is replaced by its mean. Plain
zeroing (``removal="zero"``) breaks networks whose constant or saturated neurons feed a
bias, and it changes the baselines (a prototype measured random on breast-cancer at AUC
0.655 with the fold and 0.895 with zeroing), so every method is measured under the same
removal.

Methods
-------
Every order removes the *least* important neuron first; each method scores every hidden
neuron:

``greedy_kl``    **default**: greedy, re-scored after each removal, by KL(p_full ‖ p_pruned)
                 of the output softmax on the reference inputs (label-free,
                 :func:`nifgraph.analysis.importance.greedy_kl_order`); a global order, deterministic.
``std_wout``     output std on the reference inputs × L2 norm of the outgoing weights.
``mi_output``    I(h; ŷ), MI of the neuron with the predicted class (static MI score).
``nif``          total NIF in-flow × total NIF out-flow (nats²): a neuron that receives no
                 information or passes none on scores 0 (dead neurons score 0).
``betweenness``  weighted betweenness on the NIF flow graph (shortest path = path of largest
                 NIF product, :func:`nifgraph.analysis.local.betweenness`).
``magnitude``    L2 norm of the neuron's incoming and outgoing weights together.
``random``       a uniformly random order (one per seed).

DAG models (:class:`nifgraph.dag.FlowDag`: CNN channels, residual blocks) get the same curves
with removal inside the traced graph (a unit replaced by its training mean, a channel over all
its positions: :meth:`~nifgraph.dag.FlowDag.logits`), on ``mats`` given as the DAG's blocks
``{(a, b): (n_a, n_b)}`` (skip pairs included): ``greedy_kl`` (one pass of the graph per
candidate and step), ``mi_output``, ``nif`` (in-flow and out-flow summed over every block into
and out of the unit), ``betweenness`` (:func:`~nifgraph.analysis.dag_flow.analyze_dag`),
``magnitude`` -- the L2 norm of the unit's *incoming* weights only (its filter or row): a DAG
unit's outgoing weights are spread over every layer that reads it, through merges, pooling and
reshapes, so they are not one slice of one weight -- and ``random``. ``std_wout`` needs outgoing
weights too and is not offered (:data:`DAG_PRUNE_METHODS`).

Orders are global over all hidden layers. Static scores are first divided by the mean score
of the neuron's layer, so that layers of different width and fan-in (whose NIF sums and
weight norms live on different scales) compete on equal terms; ``greedy_kl`` is already a
global order and is not normalised. Ties (e.g. many neurons with betweenness 0) are broken
at random by the seed; deterministic methods therefore vary a little across seeds
(``greedy_kl`` has no ties and gives the same order for every seed).

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
import torch

from ..errors import ValidationError
from ..store.base import Store

__all__ = [
    "PRUNE_METHODS",
    "DAG_PRUNE_METHODS",
    "dag_magnitude_scores",
    "DEFAULT_PRUNE_METHOD",
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

PRUNE_METHODS: tuple[str, ...] = (
    "greedy_kl", "std_wout", "mi_output", "nif", "betweenness", "magnitude", "random",
)
#: The orders of a DAG model (``std_wout`` needs one outgoing weight matrix per unit).
DAG_PRUNE_METHODS: tuple[str, ...] = tuple(m for m in PRUNE_METHODS if m != "std_wout")
#: The order nifgraph recommends (marked ``"default": true`` in :meth:`PruneCurves.to_dict`).
DEFAULT_PRUNE_METHOD = "greedy_kl"
_NEEDS_MATS = ("nif", "betweenness")


#: Upper bound on ``seeds``: each seed re-evaluates the network once per k and method.
MAX_SEEDS = 1000

def hidden_neurons(sizes: Sequence[int]) -> list[tuple[int, int]]:
    """Every hidden neuron ``(layer, idx)`` in layer order."""
    if len(sizes) < 3:
        raise ValidationError(f"Pruning needs at least one hidden layer; got layer sizes {list(sizes)}.")
    return [(layer, i) for layer in range(1, len(sizes) - 1) for i in range(int(sizes[layer]))]


def _sizes(mats: Sequence[np.ndarray]) -> tuple[int, ...]:
    return (int(np.shape(mats[0])[0]), *(int(np.shape(m)[1]) for m in mats))


def _dag_sizes(blocks: Any, sizes: tuple[int, ...]) -> tuple[int, ...]:
    """The layer sizes a DAG model's blocks ``{(a, b): (n_a, n_b)}`` imply (``sizes`` where no block says)."""
    if not isinstance(blocks, dict):
        raise ValidationError("A DAG model's NIF is a dict of blocks {(a, b): (n_a, n_b)}; pass run_blocks(...).")
    got = list(sizes)
    for (a, b), m in blocks.items():
        got[int(a)], got[int(b)] = int(np.shape(m)[0]), int(np.shape(m)[1])
    return tuple(got)


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


def dag_magnitude_scores(dag: Any) -> np.ndarray:
    """L2 norm of every hidden unit's incoming weights (a conv channel's filter, a Linear
    row) read from the traced graph of ``dag`` (a :class:`nifgraph.dag.FlowDag`), shape
    (n_hidden,), layer order."""
    nodes = {n.name: n for n in dag.module.graph.nodes}
    out = []
    for layer in range(1, len(dag.layers) - 1):
        node = nodes[dag.outputs[layer]]
        while "linear" not in str(node.target) and "conv" not in str(node.target):  # back through activation, BN…
            node = node.args[0]
        w = node.args[1]
        if isinstance(w, torch.fx.Node):  # a parameter of the unlifted program: get_attr "stem.weight"
            held = dag.module
            for part in str(w.target).split("."):
                held = getattr(held, part)
            w = held
        weight = torch.as_tensor(w).detach().double().reshape(dag.layers[layer].n_units, -1).numpy()
        out.append(np.sqrt((weight**2).sum(axis=1)))
    return np.concatenate(out)


def _dag_flow_scores(blocks: dict[tuple[int, int], np.ndarray], sizes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``nif`` and ``betweenness`` scores of a DAG model's hidden units from its NIF blocks."""
    from .dag_flow import DagNif, analyze_dag

    a = analyze_dag(DagNif(sizes, blocks))
    hidden = slice(int(sizes[0]), int(sum(sizes[:-1])))
    return (a.in_flow * a.out_flow)[hidden], a.betweenness[hidden]


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


def _accuracy_without(net: Any, x: np.ndarray, y: np.ndarray, units: list[tuple[int, int]], means: Any) -> float:
    """Accuracy on (x, y) with ``units`` removed: the mean fold (``means``) or zeroing (None);
    inside the traced graph for a DAG model."""
    from ..network import accuracy, pruned

    if hasattr(net, "pairs"):  # nifgraph.dag.FlowDag
        fill = means if means is not None else [np.zeros(n) for n in net.layer_sizes]
        return net.accuracy(x, y, units, fill)
    return accuracy(pruned(net, units, means=means), x, y) if units else accuracy(net, x, y)


def pruning_curve(
    net: Any,
    x: np.ndarray,
    y: np.ndarray,
    neurons: Sequence[tuple[int, int]],
    ks: Sequence[int],
    means: Sequence[np.ndarray] | None = None,
) -> np.ndarray:
    """Accuracy of ``net`` on (x, y) after removing the first ``k`` of ``neurons``, per k.

    ``means`` (one (n_l,) array per layer, :func:`nifgraph.analysis.removal.unit_means`) folds each
    removed neuron's mean into the next bias (replaces it by its mean inside a DAG model's
    graph); None zeroes only.
    """
    out = []
    for k in ks:
        k = int(k)
        if not 0 <= k <= len(neurons):
            raise ValidationError(f"Cannot remove {k} neurons out of {len(neurons)}.")
        out.append(_accuracy_without(net, x, y, list(neurons[:k]), means))
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
    #: each method's removal order of seed 0 (ties broken by that seed): the units to remove,
    #: first to last, as the curve removed them
    orders: dict[str, tuple[tuple[int, int], ...]] = field(default_factory=dict)

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
        return float(np.mean(self.removable_per_seed(method, tolerance)))

    def removable_per_seed(self, method: str, tolerance: float = 0.01) -> np.ndarray:
        """:meth:`removable` of each seed's curve, shape (seeds,)."""
        acc = self.accuracy[method]
        ok = acc >= acc[:, :1] - tolerance - 1e-12
        first_bad = np.where(ok.all(axis=1), len(self.ks), np.argmin(ok, axis=1))
        return np.asarray([self.ks[max(0, i - 1)] for i in first_bad])

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
        summary = [
            {**row, "default": row["method"] == DEFAULT_PRUNE_METHOD}
            for row in self.summary().to_dict(orient="records")
        ]
        return {
            "ks": self.ks.tolist(), "n_hidden": self.n_hidden, "seeds": self.seeds,
            "accuracy": {m: a.tolist() for m, a in self.accuracy.items()},
            "summary": summary, "default_method": DEFAULT_PRUNE_METHOD,
            "flagged": [list(n) for n in self.flagged], "accuracy_flagged": self.accuracy_flagged,
            "settings": self.settings,
            "order": {m: [list(u) for u in o] for m, o in self.orders.items()},
        }


def prune_curves(
    net: Any,
    mats: Sequence[np.ndarray] | None,
    x: np.ndarray,
    y: np.ndarray,
    *,
    seeds: int = 5,
    ks: Sequence[int] | None = None,
    methods: Sequence[str] | None = None,
    flagged: Sequence[tuple[int, int]] = (),
    reference: np.ndarray | None = None,
    removal: str = "mean",
) -> PruneCurves:
    """Pruning curves of every method over ``seeds`` seeds.

    Parameters
    ----------
    net : nifgraph.network.Network, or a DAG model's nifgraph.dag.FlowDag
    mats : list of ndarray (n_l, n_{l+1}), a DAG model's blocks {(a, b): (n_a, n_b)}, or None
        NIF matrices of the same network; needed only by ``nif`` and ``betweenness``.
    x : ndarray, shape (n_samples, n_inputs)
    y : ndarray, shape (n_samples,)
        Held-out samples that judge every removal.
    ks : numbers of neurons removed (default: every k from 0 to all hidden neurons, or 25
        evenly spaced values for wide networks)
    methods : names from :data:`PRUNE_METHODS` (default: all, :data:`DAG_PRUNE_METHODS` for a DAG
        model; :data:`DEFAULT_PRUNE_METHOD` is the recommended order)
    flagged : NIF-flagged prunable neurons; their joint removal is measured as well
    reference : ndarray, shape (n_ref, n_inputs), optional
        Label-free reference inputs (the training split) for the removal means and for the
        ``greedy_kl``, ``std_wout`` and ``mi_output`` scores. Default: ``x`` itself (labels
        are never used for them, but the held-out inputs then shape the order).
    removal : {"mean", "zero"}
        Mean fold (default, :mod:`nifgraph.analysis.removal`) or plain zeroing, for every method.
    """
    from .importance import greedy_kl_scores, output_mi_scores, std_wout_scores
    from .removal import replacement_values

    dag = hasattr(net, "pairs")  # a DAG model (nifgraph.dag.FlowDag)
    if methods is None:
        methods = DAG_PRUNE_METHODS if dag else PRUNE_METHODS
    if not 1 <= int(seeds) <= MAX_SEEDS:
        raise ValidationError(f"seeds must be an integer in [1, {MAX_SEEDS}]; got {seeds!r}.")
    unknown = [m for m in methods if m not in (DAG_PRUNE_METHODS if dag else PRUNE_METHODS)]
    if unknown:
        offered = DAG_PRUNE_METHODS if dag else PRUNE_METHODS
        why = " (std_wout needs one outgoing weight matrix per unit, which a DAG unit does not have)" if dag else ""
        raise ValidationError(f"Unknown pruning method(s) {unknown}{why}; choose from {', '.join(offered)}.")
    sizes = tuple(int(s) for s in net.layer_sizes)
    if any(m in _NEEDS_MATS for m in methods):
        if mats is None:
            raise ValidationError("Methods nif and betweenness need the NIF matrices; pass mats or drop those methods.")
        got = _dag_sizes(mats, sizes) if dag else _sizes(mats)
        if got != sizes:
            raise ValidationError(f"NIF matrices give layer sizes {got} but the network has {sizes}.")
    ref = x if reference is None else reference
    means = replacement_values(net, ref, removal)
    neurons = hidden_neurons(sizes)
    h = len(neurons)
    if ks is None:
        ks = range(h + 1) if h <= 24 else np.unique(np.linspace(0, h, 25).round().astype(int))
    ks_arr = np.asarray(sorted({int(k) for k in ks}))
    flows = (lambda: _dag_flow_scores(mats, sizes)) if dag else (lambda: (nif_scores(mats), betweenness_scores(mats)))
    raw = {
        "greedy_kl": lambda: greedy_kl_scores(net, ref, removal=removal),
        "std_wout": lambda: std_wout_scores(net, ref),
        "mi_output": lambda: output_mi_scores(net, ref),
        "nif": lambda: flows()[0],
        "betweenness": lambda: flows()[1],
        "magnitude": lambda: dag_magnitude_scores(net) if dag else magnitude_scores(
            [lin.weight.detach().numpy() for lin in net.linears]),
        "random": lambda: np.zeros(h),
    }
    scores = {m: raw[m]() if m == "greedy_kl" else layer_normalized(raw[m](), sizes) for m in methods}
    curves: dict[str, np.ndarray] = {}
    orders: dict[str, tuple[tuple[int, int], ...]] = {}
    for m in methods:
        rows = []
        for s in range(int(seeds)):
            order = prune_order(scores[m], np.random.default_rng(1000 * s + 17))
            if s == 0:
                orders[m] = tuple(neurons[i] for i in order)
            rows.append(pruning_curve(net, x, y, [neurons[i] for i in order], ks_arr, means=means))
        curves[m] = np.asarray(rows)
    acc_flag = _accuracy_without(net, x, y, list(flagged), means) if flagged else float("nan")
    removal_text = "mean output folded into the next bias" if removal == "mean" else "zeroed"
    if dag:
        removal_text = ("unit replaced by its training mean inside the traced graph" if removal == "mean"
                        else "unit replaced by 0 inside the traced graph")
    return PruneCurves(
        ks=ks_arr, accuracy=curves, n_hidden=h, seeds=int(seeds), flagged=tuple(flagged),
        accuracy_flagged=acc_flag, orders=orders,
        settings={
            "score_normalisation": "divided by the layer's mean (static scores; greedy_kl is a global order)",
            "ties": "random by seed",
            "removal": removal_text,
            **({"magnitude": "L2 norm of the incoming weights (DAG model)"} if dag else {}),
            "reference": "given reference inputs" if reference is not None else "the evaluation inputs",
            "default_method": DEFAULT_PRUNE_METHOD,
        },
    )


def prune_curve_for_model(store: Store, ref: str, *, seeds: int = 5, ks: Sequence[int] | None = None) -> PruneCurves:
    """:func:`prune_curves` for a stored model's newest analysed run, on its held-out split,
    with the training split as the reference for means and label-free scores."""
    from ..stored import load_model_network, model_dataset
    from . import run_blocks, run_matrices

    model, run, analysis = store.need_analysis(ref)
    net = load_model_network(model, store)
    ds = model_dataset(model)
    mats = run_blocks(store, run, model) if model.is_dag else run_matrices(store, run, model)
    res = prune_curves(
        net, mats, ds.x_test, ds.y_test, seeds=seeds, ks=ks, flagged=analysis.prunable, reference=ds.x_train
    )
    res.settings.update(model_id=model.model_id, run_id=run.run_id, estimator=run.estimator)
    return res

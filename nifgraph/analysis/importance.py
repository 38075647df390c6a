"""Unit importance as pruning orders, all measured under the same mean-fold removal.

Every function scores each hidden unit (flat order of
:func:`nifgraph.analysis.pruning.hidden_neurons`: layer 1 first); a *lower* score is removed first.

``greedy_kl``  (:func:`greedy_kl_order`) an interventional order, re-measured after every
               removal: at each step remove the unit whose removal (on top of those already
               removed) changes the network's output distribution least, measured by
               ``KL(p_full ‖ p_pruned)`` of the softmax of the logits, averaged over the
               reference inputs. Label-free. The score is the step at which a unit goes.
               Ties (e.g. several dead units, all at KL 0) go in flat index order, so the
               order is deterministic and needs no seed.
``std_wout``   (:func:`std_wout_scores`) the standard deviation of the unit's output on the
               reference inputs times the L2 norm of its outgoing weights: the size of the
               variation it sends on (a constant unit scores 0, exactly what mean folding
               removes without loss).
``mi_output``  (:func:`output_mi_scores`) ``I(h; ŷ)``, the MI between the unit and the
               network's own predicted class on the reference inputs (kNN estimator for a
               continuous and a discrete variable, Ross 2014, as scikit-learn's
               ``mutual_info_classif``). A static information score.

Why greedy KL: a static MI score says what a unit *holds*, not what the fixed downstream
weights *read out* of it, and it is not re-measured as the network loses units. A prototype
(3 training seeds, wine / breast-cancer / digits) found greedy KL beat magnitude and random
on every seed while every static MI score lost to magnitude (``/work/shared/ANCHORS.md``).

Cost: greedy KL evaluates every remaining candidate at every step, ``H²/2`` single-unit
removals for ``H`` hidden units, each as a rank-one update of the next layer's
pre-activation plus a forward pass of the layers after it
(:meth:`nifgraph.analysis.removal.FoldedForward.candidate_logits`), batched over candidates.

Pure: a network and arrays in, arrays out.

References
----------
Ross, "Mutual Information between Discrete and Continuous Data Sets", PLoS ONE 9 (2014).
Molchanov et al., "Pruning Convolutional Neural Networks for Resource Efficient Inference",
ICLR 2017 (greedy, re-evaluated saliency of removals).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import ValidationError
from .removal import FoldedForward, replacement_values

__all__ = ["greedy_kl_order", "greedy_kl_scores", "std_wout_scores", "output_mi_scores"]


def _reference(net: Any, x: np.ndarray, max_samples: int | None, seed: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != net.n_inputs or x.shape[0] == 0:
        raise ValidationError(
            f"Reference inputs must be (n_samples, {net.n_inputs}); got shape {x.shape}. Pass the training split's x."
        )
    if max_samples is not None:
        if int(max_samples) < 1:
            raise ValidationError(f"max_samples must be a positive int or None; got {max_samples!r}.")
        if x.shape[0] > int(max_samples):
            rows = np.sort(np.random.default_rng(seed).choice(x.shape[0], int(max_samples), replace=False))
            x = x[rows]
    return x


def greedy_kl_order(
    net: Any,
    x: np.ndarray,
    *,
    removal: str = "mean",
    means_from: np.ndarray | None = None,
    max_samples: int | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy removal order by ``KL(p_full ‖ p_pruned)``, re-scored after every removal.

    Parameters
    ----------
    net : nifgraph.network.Network
    x : ndarray, shape (n_samples, n_inputs)
        Reference inputs (the training split); no labels are used.
    removal : {"mean", "zero"}
        Removal protocol (see :mod:`nifgraph.analysis.removal`).
    means_from : ndarray, shape (m, n_inputs), optional
        Inputs the removal means come from (default: ``x``).
    max_samples : int, optional
        Use at most this many reference rows (a seeded subset) for the KL; None = all.
    seed : int
        Only draws that subset; the order itself has no randomness.

    Returns
    -------
    order : ndarray of int64, shape (n_hidden,)
        Flat hidden-unit indices, first removed first.
    kl : ndarray, shape (n_hidden,)
        Mean KL (nats) of the network after removing ``order[:i + 1]``.
    """
    from .pruning import hidden_neurons

    units = hidden_neurons(net.layer_sizes)
    xr = _reference(net, x, max_samples, seed)
    fill = replacement_values(net, xr if means_from is None else means_from, removal)
    if fill is None:
        fill = [np.zeros(n) for n in net.layer_sizes]
    if hasattr(net, "pairs"):  # a DAG model (nifgraph.dag.FlowDag): one pass of its graph per candidate
        def logits_of(removed: list[tuple[int, int]], cand: list[tuple[int, int]]) -> torch.Tensor:
            return torch.as_tensor(np.stack([net.logits(xr, [*removed, u], fill) for u in cand]))

        logp_full = torch.log_softmax(torch.as_tensor(net.logits(xr)), dim=-1)
        return _greedy(units, logp_full, logits_of)
    eng = FoldedForward(net, fill)
    xt = torch.as_tensor(xr)
    masks = [np.zeros(n, dtype=bool) for n in eng.sizes]

    def folded(removed: list[tuple[int, int]], cand: list[tuple[int, int]]) -> torch.Tensor:
        for m in masks:
            m[:] = False
        for layer, idx in removed:
            masks[layer][idx] = True
        hs = eng.layers(xt, masks)
        parts = []
        for layer in sorted({la for la, _ in cand}):  # candidates are listed layer by layer
            idx = np.asarray([i for la, i in cand if la == layer])
            parts.append(eng.candidate_logits(hs, masks, layer, idx))  # (c, n, C)
        return torch.cat(parts)

    logp_full = torch.log_softmax(eng.layers(xt, masks)[-1].double(), dim=-1)  # (n, C)
    return _greedy(units, logp_full, folded)


def _greedy(units: list[tuple[int, int]], logp_full: torch.Tensor, logits_of: Any) -> tuple[np.ndarray, np.ndarray]:
    """The greedy loop of :func:`greedy_kl_order`: ``logits_of(removed, candidates)`` gives the
    logits ``(c, n, C)`` after removing each candidate on top of ``removed``; the candidate of
    least mean ``KL(p_full ‖ p)`` goes (ties: the first in flat order)."""
    p_full = logp_full.double().exp()
    removed: list[tuple[int, int]] = []
    left = list(range(len(units)))
    order, kls = [], []
    with torch.no_grad():
        while left:
            logq = torch.log_softmax(logits_of(removed, [units[i] for i in left]).double(), dim=-1)
            kl = (p_full[None] * (logp_full.double()[None] - logq)).sum(-1).mean(-1).numpy()  # (c,)
            i = int(np.argmin(kl))  # first of equal minima: lowest flat index
            order.append(left.pop(i))
            removed.append(units[order[-1]])
            kls.append(max(float(kl[i]), 0.0))
    return np.asarray(order, dtype=np.int64), np.asarray(kls)


def greedy_kl_scores(net: Any, x: np.ndarray, **kwargs: Any) -> np.ndarray:
    """The step at which :func:`greedy_kl_order` removes each unit, shape (n_hidden,) (lower goes first)."""
    order, _ = greedy_kl_order(net, x, **kwargs)
    scores = np.empty(order.size)
    scores[order] = np.arange(order.size, dtype=np.float64)
    return scores


def std_wout_scores(net: Any, x: np.ndarray) -> np.ndarray:
    """Output std on ``x`` (n_samples, n_inputs) × L2 norm of the outgoing weights, shape (n_hidden,)."""
    acts = net.forward_layers(_reference(net, x, None, 0))
    out = []
    for layer in range(1, len(net.layer_sizes) - 1):
        w_out = net.linears[layer].weight.detach().double().numpy()  # (n_{l+1}, n_l)
        out.append(acts[layer].std(axis=0) * np.sqrt((w_out**2).sum(axis=0)))
    return np.concatenate(out)


def output_mi_scores(net: Any, x: np.ndarray, *, n_neighbors: int = 3, seed: int = 0) -> np.ndarray:
    """``I(h; ŷ)`` in nats of every hidden unit with the predicted class on ``x``, shape (n_hidden,).

    Constant units score 0. Estimator: Ross (2014) kNN for continuous-discrete pairs.
    """
    from sklearn.feature_selection import mutual_info_classif

    acts = net.forward_layers(_reference(net, x, None, 0))
    y_hat = acts[-1].argmax(axis=1)
    h = np.hstack(acts[1:-1])  # (n, n_hidden)
    const = np.all(h == h[:1], axis=0)
    out = np.zeros(h.shape[1])
    if np.unique(y_hat).size < 2 or const.all():
        return out
    out[~const] = mutual_info_classif(
        h[:, ~const], y_hat, discrete_features=False, n_neighbors=int(n_neighbors), random_state=int(seed)
    )
    return np.maximum(out, 0.0)

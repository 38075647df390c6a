"""Removing hidden units by mean folding: the reference means, and a fast forward pass with
units replaced by constants.

Removal protocol
----------------
:func:`nifgraph.network.pruned` with ``means`` zeroes a unit's incoming weights, bias and
outgoing weights and adds ``mean × outgoing weights`` to the next layer's bias. The network
then computes exactly what it would compute if the unit's output were replaced by the
constant ``mean`` (its average on reference data). This is exact for a constant unit and
is the protocol every pruning order, curve and recommendation in nifgraph is measured
under (plain zeroing is kept as ``removal="zero"`` for comparison). The reference data are
the *training* inputs: means need no labels and must not be tuned on the held-out split
that judges the removal.

:class:`FoldedForward` evaluates the same replacement without copying the network: it
keeps the weights as tensors and overwrites removed units' outputs by their means during
the forward pass (equal to :func:`~nifgraph.network.pruned` up to float32 rounding). It also
evaluates *many* single-unit removals at once -- each as a rank-one change of the next
layer's pre-activation followed by a forward pass of the remaining layers -- which is what
makes greedy re-scored orders (:mod:`nifgraph.analysis.importance`) affordable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..errors import ValidationError

__all__ = ["REMOVALS", "unit_means", "replacement_values", "mean_pruned", "FoldedForward"]

#: Removal protocols: ``"mean"`` folds the unit's mean into the next bias, ``"zero"`` only zeroes.
REMOVALS: tuple[str, ...] = ("mean", "zero")

#: Largest candidate block (candidates × samples × width) evaluated in one tensor.
_BLOCK_ELEMENTS = 4_000_000


def unit_means(net: Any, x: np.ndarray) -> list[np.ndarray]:
    """Mean output of every neuron on reference inputs ``x``.

    Parameters
    ----------
    net : nifgraph.network.Network
    x : ndarray, shape (n_samples, n_inputs)
        Reference inputs (the training split).

    Returns
    -------
    list of ndarray
        One float64 array of shape (n_l,) per layer ``l = 0..L`` (inputs, hidden, logits),
        the ``means`` argument of :func:`nifgraph.network.pruned`.
    """
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValidationError(
            f"Reference inputs must be a non-empty (n_samples, n_inputs) array; got shape {x.shape}."
        )
    return [a.mean(axis=0) for a in net.forward_layers(x)]


def replacement_values(net: Any, reference: np.ndarray | None, removal: str = "mean") -> list[np.ndarray] | None:
    """The ``means`` to hand to :func:`~nifgraph.network.pruned` for a removal protocol.

    ``removal="mean"`` needs ``reference`` inputs (n_samples, n_inputs); ``"zero"`` returns None.
    """
    if removal not in REMOVALS:
        raise ValidationError(f"Unknown removal {removal!r}; choose one of {', '.join(REMOVALS)}.")
    if removal == "zero":
        return None
    if reference is None:
        raise ValidationError("removal='mean' needs reference inputs; pass the training split's x.")
    return unit_means(net, reference)


def mean_pruned(net: Any, neurons: Sequence[tuple[int, int]], reference: np.ndarray) -> Any:
    """:func:`~nifgraph.network.pruned` with the means of ``reference`` (n_samples, n_inputs) folded."""
    from ..network import pruned

    return pruned(net, neurons, means=unit_means(net, reference))


class FoldedForward:
    """Forward passes of a network with some hidden units replaced by constants.

    Parameters
    ----------
    net : nifgraph.network.Network
    fill : list of ndarray, one (n_l,) per layer
        The constant each removed unit is replaced by (its mean; zeros give plain zeroing,
        except for activations with ``act(0) != 0``, which zeroing also hides because the
        outgoing weights are zeroed).
    """

    def __init__(self, net: Any, fill: Sequence[np.ndarray]) -> None:
        self.sizes = tuple(int(s) for s in net.layer_sizes)
        self.weights = [lin.weight.detach().to(torch.float32).clone() for lin in net.linears]  # (n_{l+1}, n_l)
        self.biases = [
            torch.zeros(w.shape[0]) if lin.bias is None else lin.bias.detach().to(torch.float32).clone()
            for w, lin in zip(self.weights, net.linears, strict=True)
        ]
        self.acts = list(net.acts)
        self.fill = [torch.as_tensor(np.asarray(f, dtype=np.float32)) for f in fill]

    def _act(self, layer: int, z: torch.Tensor) -> torch.Tensor:
        act = self.acts[layer - 1]
        return z if act is None else act(z)

    @torch.no_grad()
    def layers(self, x: torch.Tensor, removed: Sequence[np.ndarray]) -> list[torch.Tensor]:
        """Outputs of every layer, (n_samples, n_l) each, with ``removed[l]`` (bool (n_l,))
        units replaced by their fill value."""
        out = [x]
        h = x
        for layer in range(1, len(self.sizes)):
            h = self._act(layer, h @ self.weights[layer - 1].T + self.biases[layer - 1])
            mask = torch.as_tensor(removed[layer])
            if 0 < layer < len(self.sizes) - 1 and bool(mask.any()):
                h = torch.where(mask, self.fill[layer], h)
            out.append(h)
        return out

    @torch.no_grad()
    def candidate_logits(
        self, hs: Sequence[torch.Tensor], removed: Sequence[np.ndarray], layer: int, units: np.ndarray
    ) -> torch.Tensor:
        """Logits after additionally removing each of ``units`` of ``layer``, one at a time.

        Parameters
        ----------
        hs : the current layers (:meth:`layers` with ``removed``)
        removed : bool masks (n_l,) of the units already removed
        layer : hidden layer of the candidates
        units : int array (c,) of candidate indices in that layer

        Returns
        -------
        Tensor, shape (c, n_samples, n_outputs)
        """
        n = hs[0].shape[0]
        w_next = self.weights[layer]  # (n_{l+1}, n_l)
        z_next = hs[layer] @ w_next.T + self.biases[layer]  # (n, n_{l+1}) current pre-activation
        width = max(self.sizes[layer + 1:])
        block = max(1, _BLOCK_ELEMENTS // max(1, n * width))
        parts = []
        for start in range(0, len(units), block):
            u = torch.as_tensor(units[start:start + block], dtype=torch.long)
            delta = self.fill[layer][u][None, :] - hs[layer][:, u]  # (n, c): constant minus value
            z = z_next[None] + delta.T[:, :, None] * w_next[:, u].T[:, None, :]  # (c, n, n_{l+1})
            h = self._act(layer + 1, z)
            for nxt in range(layer + 1, len(self.sizes) - 1):
                mask = torch.as_tensor(removed[nxt])
                if bool(mask.any()):
                    h = torch.where(mask, self.fill[nxt], h)
                h = self._act(nxt + 1, h @ self.weights[nxt].T + self.biases[nxt])  # (c, n, n_{nxt+1})
            parts.append(h)
        return torch.cat(parts, dim=0)

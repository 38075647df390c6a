"""Integrated Gradients (captum) as a feature × class attribution baseline."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

__all__ = ["ig_attribution"]


def ig_attribution(module: Any, x: np.ndarray, n_classes: int, *, n_steps: int = 50) -> np.ndarray:
    """Mean |Integrated Gradients| over the samples ``x`` per logit, baseline zeros.

    Returns (n_features, n_classes).
    """
    import torch
    from captum.attr import IntegratedGradients

    mod = copy.deepcopy(module).eval()
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32))
    ig = IntegratedGradients(mod)
    cols = []
    for j in range(int(n_classes)):
        att = ig.attribute(xt, baselines=torch.zeros_like(xt), target=j, n_steps=n_steps)  # (N, d)
        cols.append(att.detach().abs().mean(dim=0).numpy())
    return np.stack(cols, axis=1).astype(np.float64)

"""SHAP (``shap.DeepExplainer``) as a feature × class attribution baseline."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

__all__ = ["shap_attribution", "gradient_shap_attribution"]


def shap_attribution(
    module: Any, background: np.ndarray, x: np.ndarray, n_classes: int
) -> np.ndarray:
    """Mean |SHAP value| (``shap.DeepExplainer``) over the samples ``x`` per logit.

    Returns (n_features, n_classes).
    """
    import warnings

    import torch

    mod = copy.deepcopy(module).eval()  # DeepExplainer hooks the module: keep the caller's clean
    with warnings.catch_warnings():  # shap's own NumPy 2 / matplotlib deprecation notices
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        import shap

        explainer = shap.DeepExplainer(mod, torch.as_tensor(np.asarray(background, dtype=np.float32)))
        sv = explainer.shap_values(torch.as_tensor(np.asarray(x, dtype=np.float32)))
    arr = np.asarray(sv, dtype=np.float64)
    if arr.ndim == 3 and arr.shape[0] == int(n_classes) and arr.shape[2] != int(n_classes):
        arr = np.transpose(arr, (1, 2, 0))  # older shap: list over outputs of (N, d)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return np.abs(arr).mean(axis=0)  # (d, c)


def gradient_shap_attribution(
    module: Any, background: np.ndarray, x: np.ndarray, n_classes: int, *, n_samples: int = 20, seed: int = 0
) -> np.ndarray:
    """Mean |SHAP value| per logit by expected gradients (captum ``GradientShap``, Erion et al.
    2021: the gradient-based SHAP approximation of ``shap.GradientExplainer``), for any
    differentiable module -- a DAG model's traced graph (:meth:`nifgraph.dag.FlowDag.as_module`),
    which ``DeepExplainer`` cannot hook. ``n_samples`` draws from ``background`` per sample.

    Returns (n_features, n_classes).
    """
    import torch
    from captum.attr import GradientShap

    torch.manual_seed(int(seed))  # captum draws the background rows and the path points from torch
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32))
    bg = torch.as_tensor(np.asarray(background, dtype=np.float32))
    gs = GradientShap(module)
    cols = [gs.attribute(xt, baselines=bg, target=j, n_samples=int(n_samples)).detach().abs().mean(dim=0).numpy()
            for j in range(int(n_classes))]
    return np.stack(cols, axis=1).astype(np.float64)

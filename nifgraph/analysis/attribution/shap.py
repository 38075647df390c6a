"""SHAP (``shap.DeepExplainer``) as a feature × class attribution baseline."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

__all__ = ["shap_attribution"]


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

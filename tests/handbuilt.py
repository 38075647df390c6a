"""A network whose flow is known by construction (weights set by hand).

Inputs x0, x1, x2 ~ independent N(0, 1). Hidden ReLU layer:

* h0 = relu(x1 + 10)        copies feature 1 (the shift keeps the ReLU linear)
* h1 = relu(-x0 - 100)      dead: always 0
* h2 = relu(0·x + 0.5)      constant 0.5
* h3 = relu(x0 + x2 + 10)   mixes features 0 and 2: I(x0; h3) = I(x2; h3) = ½·ln 2

Outputs: y0 = h0 + h3 - 20, y1 = h0 - h3 (logits).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

MIX_MI = 0.5 * np.log(2.0)


def handbuilt_module() -> nn.Sequential:
    l1 = nn.Linear(3, 4)
    l2 = nn.Linear(4, 2)
    with torch.no_grad():
        l1.weight.copy_(torch.tensor([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 1.0]]))
        l1.bias.copy_(torch.tensor([10.0, -100.0, 0.5, 10.0]))
        l2.weight.copy_(torch.tensor([[1.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.0, -1.0]]))
        l2.bias.copy_(torch.tensor([-20.0, 0.0]))
    return nn.Sequential(l1, nn.ReLU(), l2).eval()


def handbuilt_inputs(n: int = 2000, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 3)).astype(np.float32)


def import_handbuilt(st, tmp_path, n: int = 600, module=None, x=None):
    """Store the hand-built model (or ``module``, on inputs ``x``) through the user-model
    import path: a CSV of the samples labelled by the model's own argmax, and the module saved
    with the data set's standardisation folded into its first layer (the model expects raw
    inputs)."""
    import pandas as pd

    from nifgraph.data import load_dataset
    from nifgraph.pipeline import import_model

    make = module or handbuilt_module
    x = handbuilt_inputs(n, seed=1) if x is None else np.asarray(x, dtype=np.float32)
    with torch.no_grad():
        y = make()(torch.as_tensor(x)).argmax(1).numpy()
    csv = tmp_path / "hb.csv"
    pd.DataFrame({**{f"x{i}": x[:, i] for i in range(x.shape[1])}, "label": y}).to_csv(csv, index=False)
    ds = load_dataset(csv=csv, target="label", seed=0)
    folded = make()
    with torch.no_grad():
        w = folded[0].weight.clone()
        folded[0].weight.copy_(w * torch.as_tensor(ds.scale, dtype=torch.float32))
        folded[0].bias.add_(w @ torch.as_tensor(ds.mean, dtype=torch.float32))
    torch.save(folded, tmp_path / "hb.pt")
    return import_model(st, str(tmp_path / "hb.pt"), ds, csv=str(csv), target="label", trust_pickle=True)


def decider_module() -> nn.Sequential:
    """2 inputs → 3 hidden ReLU → 2 classes; class 1 iff x0 > 0. h0 = relu(x0) decides,
    h1 = relu(-x0) helps a little, h2 = relu(… - 100) is dead (with large outgoing weights that
    cancel): logit1 - logit0 = 2·h0 - 0.2·h1 - 0.01. The right removal order: h2, h1, h0."""
    lin1, lin2 = nn.Linear(2, 3), nn.Linear(3, 2)
    with torch.no_grad():
        lin1.weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.3, 0.3]]))
        lin1.bias.copy_(torch.tensor([0.0, 0.0, -100.0]))
        lin2.weight.copy_(torch.tensor([[0.0, 0.2, 5.0], [2.0, 0.0, 5.0]]))
        lin2.bias.copy_(torch.tensor([0.01, 0.0]))
    return nn.Sequential(lin1, nn.ReLU(), lin2).eval()


def decider_inputs(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Inputs with a margin of 0.2 around x0 = 0, and their classes 1[x0 > 0]."""
    x = np.random.default_rng(seed).normal(size=(n, 2)).astype(np.float32)
    x[:, 0] += np.sign(x[:, 0]) * 0.2
    return x, (x[:, 0] > 0).astype(np.int64)

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


# -- a residual CNN whose flow is known (issue #11) ------------------------------------------
class ResidualCNN(nn.Module):
    """Images of 3 channels × 2×2 pixels, i.i.d. N(0, 1); 1×1 convolutions, so a channel's sample
    (its mean over the 4 positions) is a linear function of the mean of the channels it reads.

    * stem (3 channels, ReLU, every value shifted by +10 so the ReLU stays linear):
      s0 = x_ch0 + 10 (a copy of input channel 0), s1 = relu(-100) (dead), s2 = x_ch1 + 10;
      input channel 2 is read by nothing;
    * block conv (3 channels, no activation of its own): b0 = 0 and b1 = 0 (constant: the block
      passes s0 and s1 on through the skip alone), b2 = s2 - 10;
    * y = relu(b + s): y0 = s0 (channel 0 copied through the skip path), y1 = 0, y2 = 2 x_ch1 + 10;
    * head (2 logits): z0 = y0 - 10 = mean(x_ch0), z1 = ½ y2 - 5 = mean(x_ch1).

    DAG: input (12 pixels) → stem → block → head, and stem → head over the skip.
    Known flow: pixel edges into s0 (channel 0) and s2 (channel 1) carry -½ ln(1 - ¼) nats (a
    pixel against the mean of 4 i.i.d. pixels); nothing flows from channel 2's pixels nor into
    or out of s1, b0, b1; s0 reaches the head only over the skip. Prunable: s1 (dead), b0, b1
    (constant), each at no cost."""

    PIXEL_MI = -0.5 * float(np.log(1 - 0.25))
    PRUNABLE = {(1, 1), (2, 0), (2, 1)}
    INPUT_SHAPE = (3, 2, 2)

    def __init__(self) -> None:
        super().__init__()
        self.stem, self.block, self.head = nn.Conv2d(3, 3, 1), nn.Conv2d(3, 3, 1), nn.Linear(3, 2)
        with torch.no_grad():
            self.stem.weight.copy_(torch.tensor([[1.0, 0, 0], [0, 0, 0], [0, 1.0, 0]]).reshape(3, 3, 1, 1))
            self.stem.bias.copy_(torch.tensor([10.0, -100.0, 10.0]))
            self.block.weight.copy_(torch.tensor([[0.0, 0, 0], [0, 0, 0], [0, 0, 1.0]]).reshape(3, 3, 1, 1))
            self.block.bias.copy_(torch.tensor([0.0, 0.0, -10.0]))
            self.head.weight.copy_(torch.tensor([[1.0, 0, 0], [0, 0, 0.5]]))
            self.head.bias.copy_(torch.tensor([-10.0, -5.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.relu(self.stem(x))
        y = torch.relu(self.block(s) + s)
        return self.head(y.mean(dim=(2, 3)))


def residual_cnn_inputs(n: int = 1500, seed: int = 0) -> np.ndarray:
    """Flat rows of 12 pixels (3 channels × 2×2), i.i.d. N(0, 1)."""
    return np.random.default_rng(seed).standard_normal((n, 12)).astype(np.float32)


def import_residual_cnn(st, tmp_path, n: int = 1500):
    """Store :class:`ResidualCNN` as a user would (a torch.export program, ``--input-shape 3,2,2``,
    raw inputs), on a CSV of its inputs labelled by its own argmax: test accuracy 1."""
    import pandas as pd

    from nifgraph.data import load_dataset
    from nifgraph.pipeline import import_model

    x = residual_cnn_inputs(n, seed=1)
    model = ResidualCNN().eval()
    with torch.no_grad():
        y = model(torch.as_tensor(x).reshape(n, *ResidualCNN.INPUT_SHAPE)).argmax(1).numpy()
    csv = tmp_path / "rescnn.csv"
    pd.DataFrame({**{f"p{i}": x[:, i] for i in range(12)}, "label": y}).to_csv(csv, index=False)
    ds = load_dataset(csv=csv, target="label", seed=0, standardize=False)
    path = tmp_path / "rescnn.pt2"
    torch.export.save(torch.export.export(model, (torch.as_tensor(x[:4]).reshape(4, *ResidualCNN.INPUT_SHAPE),)), path)
    return import_model(st, str(path), ds, csv=str(csv), target="label", input_shape=ResidualCNN.INPUT_SHAPE)

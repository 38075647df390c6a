"""Built-in convolutional models for image data sets (``nifgraph train --arch cnn|resnet``),
trained with Adam and read back as a DAG of layers (:mod:`nifgraph.dag`).

* ``cnn``: one 3×3 conv (padding 1) + activation per entry of ``hidden`` (its channels), all
  at the image's resolution, then max pooling to a 4×4 grid (:data:`HEAD_GRID`; smaller
  images keep theirs), flatten and a linear classifier. The head keeps *where* a channel
  fired: global average pooling throws that away; on 8×8 digits a GAP head reached 0.939
  held-out with 16,32 channels and 20 epochs, 0.972 with 16,32,64 and 60 epochs, where this
  one reaches 0.98-0.99 (docs/dag_models.md). Every conv stage has the same spatial size, so positions can serve as samples
  between all of them (``conv_samples="positions"``, :mod:`nifgraph.dag`).
* ``resnet``: a stem conv with ``hidden[0]`` channels, then one residual block per entry of
  ``hidden``: conv → BatchNorm → activation → (dropout) → conv → BatchNorm, plus the block's
  input (through a 1×1 conv when the channel count changes), then the activation; global
  average pooling, a linear classifier.

Dropout (``--dropout``) sits inside each conv stage / block, so it is the identity at eval.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .errors import ValidationError
from .network import ACTIVATIONS

__all__ = ["ARCHS", "DEFAULTS", "HEAD_GRID", "ConvResult", "build_convnet", "train_convnet", "train_defaults"]

ARCHS = ("mlp", "cnn", "resnet")
#: The ``cnn`` head max-pools each channel to this grid before the linear classifier.
HEAD_GRID = 4
#: Training defaults per architecture (the CLI's when an option is not given). ``cnn``: on
#: digits (1×8×8, stratified 70 % split) 0.976-0.991 held-out over 3 seeds × 2 splits, about
#: 2 s of training on 2 cores (docs/dag_models.md). ``mlp`` takes
#: :class:`~nifgraph.network.TrainConfig`'s defaults.
DEFAULTS: dict[str, dict[str, Any]] = {
    "cnn": {"hidden": (16, 32), "epochs": 20, "lr": 0.003, "batch_size": 32},
    "resnet": {"hidden": (8, 8), "epochs": 20, "lr": 0.003, "batch_size": 32},
}


def train_defaults(arch: str) -> dict[str, Any]:
    """The training defaults of ``arch`` (hidden, epochs, lr, batch_size); see :data:`DEFAULTS`."""
    if arch == "mlp":
        from .network import TrainConfig

        cfg = TrainConfig()
        return {"hidden": cfg.hidden, "epochs": cfg.epochs, "lr": cfg.lr, "batch_size": cfg.batch_size}
    if arch not in DEFAULTS:
        raise ValidationError(f"Unknown architecture {arch!r}; use one of {', '.join(ARCHS)}.")
    return dict(DEFAULTS[arch])


class _Block(nn.Module):
    def __init__(self, c_in: int, c_out: int, act: type[nn.Module], dropout: float) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out)
        self.act1 = act()
        self.drop = nn.Dropout(dropout) if dropout else nn.Identity()
        self.conv2, self.bn2 = nn.Conv2d(c_out, c_out, 3, padding=1), nn.BatchNorm2d(c_out)
        self.proj = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else None
        self.act2 = act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.bn2(self.conv2(self.drop(self.act1(self.bn1(self.conv1(x))))))
        return self.act2(h + (x if self.proj is None else self.proj(x)))


class _Net(nn.Module):
    """``body`` then the head: global average pooling (``grid`` None) or max pooling to a
    ``grid`` (h, w) and flatten, then a linear classifier."""

    def __init__(self, body: nn.Module, c_last: int, n_classes: int, grid: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.body = body
        self.pool = nn.AdaptiveMaxPool2d(grid) if grid else None
        self.head = nn.Linear(c_last * (grid[0] * grid[1] if grid else 1), n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x)  # (N, C, H, W)
        if self.pool is None:
            return self.head(h.mean(dim=(2, 3)))  # (N, C)
        return self.head(self.pool(h).flatten(1))  # (N, C·h·w)


def build_convnet(arch: str, image_shape: tuple[int, ...], n_classes: int, hidden: tuple[int, ...],
                  activation: str = "relu", dropout: float = 0.0) -> nn.Module:
    """The untrained ``cnn`` or ``resnet`` for images of ``image_shape`` (C, H, W)."""
    if len(image_shape) != 3:
        raise ValidationError(
            f"--arch {arch} needs image data (channels, height, width); got samples of shape {tuple(image_shape)}: "
            "use --dataset digits (1×8×8), or --arch mlp."
        )
    act = ACTIVATIONS[activation]
    c_in = int(image_shape[0])
    layers: list[nn.Module] = []
    grid = None
    if arch == "cnn":
        grid = (min(HEAD_GRID, int(image_shape[1])), min(HEAD_GRID, int(image_shape[2])))
        for c in hidden:
            layers += [nn.Conv2d(c_in, int(c), 3, padding=1), act()]
            if dropout:
                layers.append(nn.Dropout(dropout))
            c_in = int(c)
    elif arch == "resnet":
        layers += [nn.Conv2d(c_in, int(hidden[0]), 3, padding=1), nn.BatchNorm2d(int(hidden[0])), act()]
        c_in = int(hidden[0])
        for c in hidden:
            layers.append(_Block(c_in, int(c), act, dropout))
            c_in = int(c)
    else:
        raise ValidationError(f"Unknown architecture {arch!r}; use one of {', '.join(ARCHS)}.")
    return _Net(nn.Sequential(*layers), c_in, n_classes, grid)


@dataclass(frozen=True)
class ConvResult:
    network: Any  # nifgraph.dag.FlowDag
    train_accuracy: float
    test_accuracy: float
    losses: list[float]
    elapsed_s: float


def train_convnet(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, config: Any,
    image_shape: tuple[int, ...], n_classes: int, progress: Callable[[int, int], None] | None = None,
) -> ConvResult:
    """Train ``config.arch`` with Adam (``config``: a :class:`nifgraph.network.TrainConfig`);
    the result's network is the trained model read as a DAG (a torch.export program with a
    free batch size)."""
    from .dag import read_module

    torch.manual_seed(int(config.seed))
    gen = torch.Generator().manual_seed(int(config.seed))
    shape = tuple(int(d) for d in image_shape)
    module = build_convnet(config.arch, shape, n_classes, tuple(config.hidden), config.activation, config.dropout)
    xt = torch.as_tensor(np.asarray(x_train), dtype=torch.float32).reshape(-1, *shape)
    yt = torch.as_tensor(np.asarray(y_train), dtype=torch.long)
    opt = torch.optim.Adam(module.parameters(), lr=float(config.lr), weight_decay=float(config.weight_decay))
    t0 = time.perf_counter()
    losses: list[float] = []
    if progress is not None:
        progress(0, int(config.epochs))
    for epoch in range(int(config.epochs)):
        module.train()
        total = 0.0
        for idx in torch.randperm(len(xt), generator=gen).split(int(config.batch_size)):
            if len(idx) < 2:  # BatchNorm needs two samples
                continue
            opt.zero_grad()
            loss = nn.functional.cross_entropy(module(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / len(xt))
        if progress is not None:
            progress(epoch + 1, int(config.epochs))
    module.eval()
    dag = read_module(module, xt[:2])
    acc = lambda x, y: float((dag.predict(x) == np.asarray(y)).mean())  # noqa: E731
    return ConvResult(dag, acc(x_train, y_train), acc(x_test, y_test), losses, time.perf_counter() - t0)

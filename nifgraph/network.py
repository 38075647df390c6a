"""Feed-forward networks: build and train an MLP, read a user's model, record activations,
prune neurons.

nifgraph works on a network as a stack of *blocks* ``a_{l+1} = act_l(W_l a_l + b_l)``: every
``torch.nn.Linear`` followed by at most one element-wise activation. ``Dropout`` and
``Identity`` are allowed anywhere (they do nothing at evaluation time); a trailing
``Softmax``/``LogSoftmax`` is allowed and ignored, because nifgraph records the **logits** of
the output layer: softmax is not element-wise (it couples all classes and saturates), while
the logits are the network's own last readout, one value per class neuron. Anything else is
refused with :class:`~nifgraph.errors.UnsupportedModelError` naming the layer.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from .errors import UnsupportedModelError, ValidationError, param_error

__all__ = [
    "ACTIVATIONS",
    "Network",
    "TrainConfig",
    "TrainResult",
    "build_mlp",
    "train_mlp",
    "from_module",
    "accuracy",
    "record_activations",
    "estimation_activations",
    "neuron_summaries",
    "pruned",
    "shrunk",
]

ProgressFn = Callable[[int, int], None]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "silu": nn.SiLU,
    "softplus": nn.Softplus,
}
_ACT_BY_CLASS = {cls.__name__: name for name, cls in ACTIVATIONS.items()}
_PASS_THROUGH = {"Dropout", "Identity", "AlphaDropout"}
_TRAILING_OK = {"Softmax", "LogSoftmax"}


@dataclass
class Network:
    """A validated feed-forward network: the torch module and its block structure.

    ``layer_sizes`` = (n_inputs, hidden…, n_outputs); ``activations[l]`` is applied after
    Linear ``l`` (``"identity"`` for the output logits).
    """

    module: nn.Module
    linears: list[nn.Linear] = field(repr=False)
    acts: list[nn.Module | None] = field(repr=False)
    activations: tuple[str, ...]
    layer_sizes: tuple[int, ...]

    @property
    def n_inputs(self) -> int:
        return self.layer_sizes[0]

    @property
    def n_outputs(self) -> int:
        return self.layer_sizes[-1]

    @torch.no_grad()
    def forward_layers(self, x: np.ndarray | torch.Tensor, dtype: Any = np.float64) -> list[np.ndarray]:
        """Activations of every layer for inputs ``x`` (N, n_inputs): a list of
        ``len(layer_sizes)`` arrays (N, n_l); layer 0 is the input, the last the logits.
        The network computes in float32; ``dtype`` float64 (the default) returns exact upcasts,
        ``np.float32`` the values as computed, in half the memory."""
        t = torch.as_tensor(np.asarray(x, dtype=np.float32))
        if t.ndim != 2 or t.shape[1] != self.n_inputs:
            raise ValidationError(
                f"The network expects {self.n_inputs} input features but the data has "
                f"{t.shape[-1] if t.ndim else 0}; use the data set the model was trained on."
            )
        self.module.eval()
        out = [t.numpy().astype(dtype)]  # a copy: never an alias of the caller's input
        for lin, act in zip(self.linears, self.acts, strict=True):
            t = lin(t)
            if act is not None:
                t = act(t)
            out.append(t.numpy().astype(dtype, copy=False))  # a fresh tensor: no second copy
        return out

    @torch.no_grad()
    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.forward_layers(x)[-1].argmax(axis=1)


def build_mlp(
    n_inputs: int,
    hidden: Sequence[int],
    n_outputs: int,
    *,
    activation: str = "relu",
    dropout: float = 0.0,
) -> nn.Sequential:
    """``Linear → act → [Dropout] → … → Linear`` (logits)."""
    if activation not in ACTIVATIONS:
        raise param_error("activation", "build_mlp", f"one of {sorted(ACTIVATIONS)}", activation)
    if not 0.0 <= dropout < 1.0:
        raise param_error("dropout", "build_mlp", "in [0, 1)", dropout)
    if any(int(h) < 1 for h in hidden):
        raise param_error("hidden", "build_mlp", "positive layer sizes", list(hidden))
    layers: list[nn.Module] = []
    prev = n_inputs
    for h in hidden:
        layers += [nn.Linear(prev, int(h)), ACTIVATIONS[activation]()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        prev = int(h)
    layers.append(nn.Linear(prev, n_outputs))
    return nn.Sequential(*layers)


def _type_name(m: Any) -> str:
    return getattr(m, "original_name", None) or type(m).__name__


def from_module(module: nn.Module) -> Network:
    """Validate a module as a feed-forward stack and describe its blocks."""
    if isinstance(module, nn.Sequential) or _type_name(module) == "Sequential":
        children = list(module.children())
    else:
        raise UnsupportedModelError(
            f"Expected a torch.nn.Sequential of Linear layers and element-wise activations, got "
            f"{_type_name(module)}; wrap your layers in nn.Sequential."
        )
    linears: list[nn.Linear] = []
    acts: list[nn.Module | None] = []
    names: list[str] = []
    trailing = False
    for pos, child in enumerate(children):
        tname = _type_name(child)
        if trailing:
            raise UnsupportedModelError(
                f"Layer {pos} ({tname}) follows a {_type_name(children[pos - 1])}; Softmax is only allowed last."
            )
        if tname == "Linear":
            linears.append(child)  # type: ignore[arg-type]
            acts.append(None)
            names.append("identity")
        elif tname in _ACT_BY_CLASS:
            if not linears or acts[-1] is not None:
                raise UnsupportedModelError(
                    f"Layer {pos} ({tname}) is not directly after a Linear layer; nifgraph reads "
                    "Linear → activation blocks."
                )
            acts[-1] = child
            names[-1] = _ACT_BY_CLASS[tname]
        elif tname in _PASS_THROUGH:
            continue
        elif tname in _TRAILING_OK:
            trailing = True
        else:
            raise UnsupportedModelError(
                f"Unsupported layer {pos}: {tname}. nifgraph reads Sequential stacks of Linear layers "
                f"with element-wise activations ({', '.join(sorted(_ACT_BY_CLASS))}), Dropout and Identity."
            )
    if not linears:
        raise UnsupportedModelError("The model has no Linear layer; nothing to analyse.")
    sizes = [int(linears[0].weight.shape[1])]
    for i, lin in enumerate(linears):
        w = lin.weight
        if int(w.shape[1]) != sizes[-1]:
            raise UnsupportedModelError(
                f"Linear layer {i} expects {int(w.shape[1])} inputs but the previous layer has {sizes[-1]}."
            )
        sizes.append(int(w.shape[0]))
    return Network(module=module, linears=linears, acts=acts, activations=tuple(names), layer_sizes=tuple(sizes))


#: Largest network (weights) that ``nifgraph train`` builds; far beyond what NIF can estimate.
MAX_WEIGHTS = 50_000_000
#: Upper bound on --epochs: far beyond what these small networks need (they converge in
#: hundreds), and a typo like 10^12 would otherwise run for years.
MAX_EPOCHS = 100_000


@dataclass(frozen=True)
class TrainConfig:
    hidden: tuple[int, ...] = (5,)
    activation: str = "relu"
    dropout: float = 0.0
    epochs: int = 200
    lr: float = 0.01
    batch_size: int = 16
    weight_decay: float = 0.0
    seed: int = 0
    #: "mlp" (Linear layers), or "cnn" / "resnet" for image data (:mod:`nifgraph.convnets`;
    #: ``hidden`` then lists channels per conv layer / residual block).
    arch: str = "mlp"

    def validate(self) -> TrainConfig:
        if self.arch not in ("mlp", "cnn", "resnet"):
            raise param_error("arch", "train", "one of mlp, cnn, resnet", self.arch)
        if not 1 <= self.epochs <= MAX_EPOCHS:
            raise param_error("epochs", "train", f"an integer in [1, {MAX_EPOCHS:,}]", self.epochs)
        if not self.lr > 0:
            raise param_error("lr", "train", "a positive float", self.lr)
        if self.batch_size < 1:
            raise param_error("batch_size", "train", "a positive integer", self.batch_size)
        if not self.hidden:
            raise param_error("hidden", "train", "at least one hidden layer size", self.hidden)
        if self.activation not in ACTIVATIONS:
            raise param_error("activation", "train", f"one of {sorted(ACTIVATIONS)}", self.activation)
        if not 0.0 <= self.dropout < 1.0:
            raise param_error("dropout", "train", "in [0, 1)", self.dropout)
        # a lower bound on the weights (hidden-to-hidden, plus one per hidden neuron): refuse a
        # typo such as --hidden 50000000 before it exhausts memory
        n_weights = sum(int(h) for h in self.hidden) + sum(
            int(a) * int(b) for a, b in zip(self.hidden[:-1], self.hidden[1:], strict=True)
        )
        if n_weights > MAX_WEIGHTS:
            raise ValidationError(
                f"--hidden {','.join(map(str, self.hidden))} makes a network of at least {n_weights:,} weights "
                f"(limit {MAX_WEIGHTS:,}); NIF is estimated on every edge, so use layers of tens to hundreds of neurons."
            )
        return self


@dataclass(frozen=True)
class TrainResult:
    network: Network
    config: TrainConfig
    train_accuracy: float
    test_accuracy: float
    losses: tuple[float, ...]
    elapsed_s: float


def accuracy(net: Network, x: np.ndarray, y: np.ndarray) -> float:
    return float((net.predict(x) == np.asarray(y)).mean())


def train_mlp(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    config: TrainConfig = TrainConfig(),
    *,
    n_classes: int | None = None,
    progress: ProgressFn | None = None,
) -> TrainResult:
    """Train an MLP with Adam and cross-entropy; seeded and reproducible."""

    config.validate()
    threads = torch.get_num_threads()
    # small MLPs train fastest on one thread (no sync overhead); restored afterwards
    torch.set_num_threads(1)
    try:
        return _train(x_train, y_train, x_test, y_test, config, n_classes, progress)
    finally:
        torch.set_num_threads(threads)


def _train(x_train, y_train, x_test, y_test, config: TrainConfig, n_classes, progress) -> TrainResult:
    import time

    t0 = time.perf_counter()
    n_classes = int(n_classes or (int(np.max(y_train)) + 1))
    gen = torch.Generator().manual_seed(config.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        module = build_mlp(
            x_train.shape[1], config.hidden, n_classes, activation=config.activation, dropout=config.dropout
        )
    opt = torch.optim.Adam(module.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    xt = torch.as_tensor(x_train, dtype=torch.float32)
    yt = torch.as_tensor(y_train, dtype=torch.long)
    n = len(xt)
    losses: list[float] = []
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(config.epochs):
        module.train()
        perm = torch.randperm(n, generator=gen)
        total = 0.0
        for start in range(0, n, config.batch_size):
            idx = perm[start : start + config.batch_size]
            if config.dropout > 0:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(config.seed * 100003 + epoch * 1009 + start)
                    loss = loss_fn(module(xt[idx]), yt[idx])
                    opt.zero_grad()
                    loss.backward()
            else:
                loss = loss_fn(module(xt[idx]), yt[idx])
                opt.zero_grad()
                loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / n)
        if progress is not None:
            progress(epoch + 1, config.epochs)
    module.eval()
    net = from_module(module)
    return TrainResult(
        network=net,
        config=config,
        train_accuracy=accuracy(net, x_train, y_train),
        test_accuracy=accuracy(net, x_test, y_test),
        losses=tuple(losses),
        elapsed_s=time.perf_counter() - t0,
    )


def record_activations(net: Network, x: np.ndarray) -> list[np.ndarray]:
    """Every neuron's value for the samples ``x``: layer 0 = inputs, hidden layers after their
    activation, last layer = logits. A list of (N, n_l) float64 arrays."""
    return net.forward_layers(x)


@contextlib.contextmanager
def estimation_activations(
    net: Network, x: np.ndarray, *, mmap_above_mib: float | None = None, batch_rows: int = 8192,
) -> Iterator[list[np.ndarray]]:
    """Every layer's activations on ``x``, held for an estimate: float32, the values the
    network computes (the estimators turn one layer pair at a time into float64, so every
    estimate equals the one on :meth:`Network.forward_layers`' float64 arrays, bit for bit).

    When the layers total more than ``mmap_above_mib`` MiB (default ``NIFGRAPH_MMAP_MIB`` or
    256), they are computed ``batch_rows`` rows at a time straight into memory-mapped ``.npy``
    files in a new temporary directory (``$TMPDIR``, :func:`nifgraph._scratch.scratch_arrays`):
    their blocks reserved first (a full disk is a one-line error, not a SIGBUS), unlinked with
    their directory before the first row is written (a map outlives its file's name, so nothing
    is left behind however the process ends), and handed out read-only. The pages belong to the
    files, which the OS can drop and re-read (unless ``$TMPDIR`` is a tmpfs, whose pages are
    memory), so a large data set's activations need not fit in memory.
    A batched forward pass can round differently from a whole one (float32 GEMMs of other
    shapes), so mapped activations equal the in-memory ones to float32 rounding, not always bit
    for bit.
    """
    from ._scratch import scratch_arrays
    from .config import mmap_above_mib as _env_mib

    if not (isinstance(batch_rows, int | np.integer) and batch_rows >= 1):
        raise param_error("batch_rows", "estimation_activations", "an int ≥ 1", batch_rows)
    limit = _env_mib() if mmap_above_mib is None else float(mmap_above_mib)
    x = np.asarray(x, dtype=np.float32)
    n = x.shape[0] if x.ndim == 2 else 0
    total = 4 * n * sum(net.layer_sizes) / 2**20
    if total <= limit or n == 0:
        yield net.forward_layers(x, dtype=np.float32)
        return
    maps = scratch_arrays([(n, w) for w in net.layer_sizes], np.float32, prefix="nifgraph-acts-",
                          what="activations")
    for s in range(0, n, batch_rows):
        for m, a in zip(maps, net.forward_layers(x[s:s + batch_rows], dtype=np.float32), strict=True):
            m[s:s + a.shape[0]] = a
    for m in maps:
        m.flags.writeable = False
    yield maps


def neuron_summaries(acts: Sequence[np.ndarray]) -> list[dict[str, np.ndarray]]:
    """Per layer: ``mean``, ``std``, ``zero_frac`` (share of exact zeros: a dead ReLU has 1.0)
    and ``dead`` (constant over the samples)."""
    out = []
    for a in acts:
        std = a.std(axis=0)
        out.append(
            {
                "mean": a.mean(axis=0),
                "std": std,
                "zero_frac": (a == 0).mean(axis=0),
                "dead": np.ptp(a, axis=0) == 0,
            }
        )
    return out


def pruned(
    net: Network,
    neurons: Sequence[tuple[int, int]],
    means: Sequence[np.ndarray] | None = None,
) -> Network:
    """A copy of ``net`` with the given hidden neurons ``(layer, idx)`` removed.

    A removed neuron's incoming weights and bias and its outgoing weights are set to zero.
    With ``means``, its mean output is first **folded** into the next layer's bias:
    ``b_next += mean[layer][idx] * W_next[:, idx]``, so the network behaves as if the neuron
    were replaced by a constant equal to its mean. This is exact for a constant neuron (a
    saturated tanh/sigmoid, a ReLU stuck at a positive value) and the least-squares best
    constant otherwise; plain zeroing breaks a network whose constant neuron feeds a bias
    (a neuron that always outputs 2.0 with weight 0.5 shifts a logit by 1.0).

    Parameters
    ----------
    net : Network
    neurons : sequence of (layer, idx)
        Hidden neurons, ``0 < layer < len(net.layer_sizes) - 1``.
    means : list of ndarray, optional
        Mean output of every neuron on reference data (the training split), one array of
        shape (n_l,) per layer ``l = 0..L`` as :func:`nifgraph.analysis.removal.unit_means` returns
        (only hidden layers are read). Every mean is the neuron's mean in the *unpruned*
        network, so removing several neurons replaces each by its own mean. ``None``: no
        fold, plain zeroing (the behaviour before means existed). A neuron whose mean is 0
        (a dead ReLU) is not folded, so its removal is bit-identical to zeroing.

    Returns
    -------
    Network
        A deep copy; ``net`` is untouched. A next layer without a bias gets one (zeros) when
        a non-zero mean has to be folded.
    """
    module = copy.deepcopy(net.module)
    new = from_module(module)
    last = len(new.layer_sizes) - 1
    neurons = list(dict.fromkeys((int(layer), int(idx)) for layer, idx in neurons))  # once each
    for layer, idx in neurons:
        if not 0 < layer < last:
            raise ValidationError(
                f"Neuron ({layer}, {idx}) is not a hidden neuron; only layers 1..{last - 1} can be pruned."
            )
        if not 0 <= idx < new.layer_sizes[layer]:
            raise ValidationError(f"Layer {layer} has no neuron {idx}.")
    if means is not None:
        if len(means) != len(new.layer_sizes) or any(
            np.shape(m) != (n,) for m, n in zip(means, new.layer_sizes, strict=False)
        ):
            raise ValidationError(
                f"means must hold one (n_l,) array per layer of {new.layer_sizes}; compute them "
                "with nifgraph.analysis.removal.unit_means(net, x_train)."
            )
    with torch.no_grad():
        if means is not None:  # fold first, with the original outgoing weights
            for layer, idx in neurons:
                mu = float(means[layer][idx])
                if mu == 0.0:
                    continue  # a dead unit: zeroing alone, bit-identical to no fold
                lin_out = new.linears[layer]
                if lin_out.bias is None:
                    lin_out.bias = nn.Parameter(torch.zeros(lin_out.weight.shape[0], dtype=lin_out.weight.dtype))
                lin_out.bias += (mu * lin_out.weight[:, idx].double()).to(lin_out.bias.dtype)
        for layer, idx in neurons:
            lin_in, lin_out = new.linears[layer - 1], new.linears[layer]
            lin_in.weight[idx, :] = 0.0
            if lin_in.bias is not None:
                lin_in.bias[idx] = 0.0
            lin_out.weight[:, idx] = 0.0
    return new


def shrunk(
    net: Network,
    neurons: Sequence[tuple[int, int]],
    means: Sequence[np.ndarray] | None = None,
) -> Network:
    """A *smaller* copy of ``net`` without the given hidden neurons: :func:`pruned` (each
    removed neuron's mean folded into the next layer's bias), then the removed neurons' rows of
    their Linear layer and columns of the next one deleted. It computes what
    ``pruned(net, neurons, means)`` computes (the deleted terms were exact zeros; only the
    order of the float sums can differ), with fewer weights: the network to deploy.

    Raises :class:`ValidationError` when a hidden layer would lose every unit.
    """
    p = pruned(net, neurons, means)
    removed: dict[int, set[int]] = {}
    for layer, idx in neurons:
        removed.setdefault(int(layer), set()).add(int(idx))
    keep = [[i for i in range(n) if i not in removed.get(la, set())] for la, n in enumerate(p.layer_sizes)]
    empty = [la for la, k in enumerate(keep) if not k]
    if empty:
        raise ValidationError(
            f"Removing every unit of layer {empty[0]} leaves no network; keep at least one unit per hidden layer."
        )
    children = list(copy.deepcopy(p.module).children())
    linear_at = [i for i, c in enumerate(children) if _type_name(c) == "Linear"]
    with torch.no_grad():
        for li, pos in enumerate(linear_at):
            old = children[pos]
            rows = torch.as_tensor(keep[li + 1], dtype=torch.long)
            cols = torch.as_tensor(keep[li], dtype=torch.long)
            lin = nn.Linear(len(keep[li]), len(keep[li + 1]), bias=old.bias is not None, dtype=old.weight.dtype)
            lin.weight.copy_(old.weight.index_select(0, rows).index_select(1, cols))
            if old.bias is not None:
                lin.bias.copy_(old.bias.index_select(0, rows))
            children[pos] = lin
    return from_module(nn.Sequential(*children).eval())

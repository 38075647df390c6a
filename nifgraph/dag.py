"""Any feed-forward PyTorch model as a DAG of layers of units, read from its traced graph.

This is the first part of "any model as a DAG of flow" (issue #11): the reader. It is pure
(a module in, layers and activation arrays out); the stores, the estimator and the analyses
still work on chains of ``Linear`` layers (:mod:`nifgraph.network`) and do not call it yet.

What a unit is
--------------
* the model's input: one unit per input feature (the 64 pixels of an 8×8 digit);
* a ``Linear`` layer: one unit per output feature;
* a ``Conv1d``/``Conv2d``/``Conv3d`` layer: one unit per output channel. A channel's sample
  is its activation averaged over positions, so every layer has one sample per input row
  and any two layers can be paired for an MI estimate. (Treating positions as extra samples
  gives more samples but pairs only layers of equal spatial size, and the samples are no
  longer independent; it is not offered.)

Element-wise activations, ``BatchNorm``/``LayerNorm`` (eval mode), dropout (identity at eval)
and copies belong to the layer before them: a unit's activation is its value after them.
Pooling, flatten and reshapes are followed. A residual ``add``, a ``cat`` and any other merge
of two tensors join their sources: a layer that reads the merged value is fed directly by
every layer in it, so a skip path becomes an edge from the layer before the block to the
layer after it. Attention, recurrence and data-dependent control flow are refused with a
one-line error naming the operation and the node.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from .errors import UnsupportedModelError

__all__ = ["DagLayer", "FlowDag", "read_module", "read_program_bytes", "dag_meta"]

_UNIT_OPS = {
    "aten.linear.default": "linear",
    "aten.conv1d.default": "conv",
    "aten.conv2d.default": "conv",
    "aten.conv3d.default": "conv",
    "aten.convolution.default": "conv",
}
#: Element-wise activations (their name as nifgraph records it).
_ACTIVATIONS = {
    "relu": "relu", "relu_": "relu", "tanh": "tanh", "tanh_": "tanh", "sigmoid": "sigmoid",
    "sigmoid_": "sigmoid", "gelu": "gelu", "leaky_relu": "leaky_relu", "leaky_relu_": "leaky_relu",
    "elu": "elu", "elu_": "elu", "silu": "silu", "silu_": "silu", "softplus": "softplus",
    "hardtanh": "hardtanh", "hardtanh_": "hardtanh", "relu6": "relu6", "hardswish": "hardswish",
    "mish": "mish",
}
#: Ops that keep the units of their input (normalisation in eval mode, copies, dropout at eval).
_KEEP = {
    "batch_norm", "_native_batch_norm_legit_no_training", "layer_norm", "group_norm", "dropout",
    "feature_dropout", "alpha_dropout", "clone", "alias", "detach", "contiguous", "_to_copy", "to",
    "lift_fresh_copy",
}
#: Ops that move positions around but keep which layer's units a value holds.
_FOLLOW = {
    "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool1d",
    "adaptive_max_pool2d", "max_pool2d_with_indices", "flatten", "view", "reshape", "_unsafe_view",
    "squeeze", "unsqueeze", "permute", "transpose", "t", "expand", "select", "slice", "getitem",
    "mean", "sum", "amax", "pad", "constant_pad_nd", "upsample_nearest2d", "upsample_bilinear2d",
}
#: Ops that merge two tensors: the result carries the units of both.
_MERGE = {"add", "add_", "sub", "mul", "mul_", "cat", "concat", "stack", "div"}
#: Trailing ops on the logits (dropped, as for ``nn.Sequential``).
_LAST = {"softmax", "_softmax", "log_softmax", "_log_softmax"}
#: Ops that read a tensor's size, not its values (dynamic batch sizes).
_SIZES = {"sym_size", "sym_numel", "sym_stride", "sym_storage_offset", "size", "dim"}
_REFUSED_HINT = {
    "scaled_dot_product_attention": "attention",
    "_scaled_dot_product_flash_attention_for_cpu": "attention",
    "matmul": "attention-style products", "bmm": "attention-style products",
    "lstm": "recurrence", "gru": "recurrence", "rnn_tanh": "recurrence", "rnn_relu": "recurrence",
    "cond": "data-dependent control flow", "while_loop": "data-dependent control flow",
}


@dataclass(frozen=True)
class DagLayer:
    """One layer of units. ``inputs`` are the positions of the layers that feed it directly
    (empty for the input layer); layers are listed in topological order."""

    name: str
    kind: str  # "input", "linear" or "conv"
    n_units: int
    inputs: tuple[int, ...]
    activation: str = "identity"


@dataclass
class FlowDag:
    """A model read as layers of units. :meth:`forward_layers` gives every layer's unit
    activations, one row per input sample."""

    layers: list[DagLayer]
    module: Any = field(repr=False)
    outputs: list[str] = field(repr=False)  # per layer: the graph node whose value are its units
    batch: int | None = None  # a program exported for one batch size runs in chunks of it
    program: Any = field(default=None, repr=False)  # the torch.export program it was read from
    input_shape: tuple[int, ...] = ()  # one sample's shape; flat rows are reshaped to it

    @property
    def activations(self) -> tuple[str, ...]:
        return tuple(layer.activation for layer in self.layers[1:])

    @property
    def n_inputs(self) -> int:
        return self.layers[0].n_units

    @property
    def n_outputs(self) -> int:
        return self.layers[-1].n_units

    def _shaped(self, x: np.ndarray | torch.Tensor) -> torch.Tensor:
        xt = torch.as_tensor(np.asarray(x), dtype=torch.float32)
        if self.input_shape and tuple(xt.shape[1:]) != self.input_shape:
            xt = xt.reshape(len(xt), *self.input_shape)
        return xt

    @torch.no_grad()
    def predict(self, x: np.ndarray | torch.Tensor) -> np.ndarray:
        """Class predictions (argmax of the output layer) on ``x``."""
        return self.forward_layers(x)[-1].argmax(axis=1)

    def program_bytes(self) -> bytes:
        """The torch.export program, as the stores keep it (``torch.export.save``)."""
        import io

        buf = io.BytesIO()
        torch.export.save(self.program, buf)
        return buf.getvalue()

    @property
    def pairs(self) -> list[tuple[int, int]]:
        """Every (source layer, target layer) joined by edges, in topological order."""
        return [(i, k) for k, layer in enumerate(self.layers) for i in layer.inputs]

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        return tuple(layer.n_units for layer in self.layers)

    def is_chain(self) -> bool:
        return all(layer.inputs == (k - 1,) for k, layer in enumerate(self.layers) if k)

    def unit_means(self, x: np.ndarray | torch.Tensor) -> list[np.ndarray]:
        """Every unit's mean on ``x`` (a channel's over samples and positions): the value a
        removed unit is replaced with."""
        return [a.mean(axis=0) for a in self.forward_layers(x)]

    def _run(self, xt: torch.Tensor, hook: Any) -> list[tuple[int, Any]]:
        """Run the graph on ``xt`` with ``hook(node_name, value) -> value`` called on every
        node; returns ``[(n_rows, output), …]`` per chunk. A program exported for one batch
        size is first tried on the whole batch with its batch-size guard skipped (its aten ops
        rarely depend on it); if that fails it runs in chunks of that size, padded."""

        class _Interp(torch.fx.Interpreter):
            def call_module(self, target: Any, args: Any, kwargs: Any) -> Any:
                if str(target) == "_guards_fn":
                    return None
                return super().call_module(target, args, kwargs)

            def run_node(self, n: torch.fx.Node) -> Any:
                return hook(n.name, super().run_node(n))

        def once(chunk: torch.Tensor) -> Any:
            out = _Interp(self.module).run(chunk)
            return out[0] if isinstance(out, (tuple, list)) else out

        if self.batch and self.batch != len(xt) and not getattr(self, "_chunked", False):
            try:
                out = once(xt)
                if out.shape[0] == len(xt):
                    self.batch = None
                    return [(len(xt), out)]
            except Exception:  # noqa: BLE001 - a size baked into the graph: run in chunks instead
                pass
            self._chunked = True
        step = self.batch or max(len(xt), 1)
        res = []
        for start in range(0, len(xt), step):
            chunk = xt[start : start + step]
            n = len(chunk)
            if n < step:  # a fixed-batch program: pad with copies of the first row, drop them after
                chunk = torch.cat([chunk, chunk[:1].expand(step - n, *chunk.shape[1:])])
            res.append((n, once(chunk)))
        return res

    def output(self, x: np.ndarray | torch.Tensor, removed: Any = (), fill: Any = None) -> torch.Tensor:
        """The output layer's values ``(N, n_outputs)`` as a float32 tensor (before any final
        softmax), differentiable in ``x`` when autograd is on; ``removed`` units ``(layer, idx)``
        replaced by ``fill[layer][idx]`` (a channel by a constant over all its positions) -- the
        mean fold of the chain's :func:`nifgraph.network.pruned`, done inside the traced graph."""
        by_node: dict[str, list[tuple[int, float]]] = {}
        for layer, idx in removed:
            by_node.setdefault(self.outputs[int(layer)], []).append((int(idx), float(fill[int(layer)][int(idx)])))
        last, got = self.outputs[-1], []

        def hook(name: str, out: Any) -> Any:
            if name in by_node:
                out = out.clone()
                for idx, value in by_node[name]:
                    out[:, idx] = value
            if name == last:
                got.append(out)
            return out

        xt = x.float() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x), dtype=torch.float32)
        if self.input_shape and tuple(xt.shape[1:]) != self.input_shape:
            xt = xt.reshape(len(xt), *self.input_shape)
        if len(xt) == 0:
            return torch.zeros((0, self.n_outputs))
        sizes = [n for n, _ in self._run(xt, hook)]
        got = got[-len(sizes):]  # a failed whole-batch try leaves a first entry
        return torch.cat([v[:n] for n, v in zip(sizes, got, strict=True)])

    @torch.no_grad()
    def logits(self, x: np.ndarray | torch.Tensor, removed: Any = (), fill: Any = None) -> np.ndarray:
        """:meth:`output` as a float64 array, without autograd."""
        return self.output(x, removed, fill).double().numpy()

    def as_module(self) -> nn.Module:
        """The model as an ``nn.Module`` on flat rows ``(N, n_inputs)`` returning the output
        layer's values, differentiable: what gradient attributions (captum) take."""
        return _FlatModule(self)

    def accuracy(self, x: np.ndarray | torch.Tensor, y: np.ndarray, removed: Any = (), fill: Any = None) -> float:
        """Held-out accuracy; with ``removed`` units replaced by ``fill`` (see :meth:`logits`)."""
        if len(x) == 0:
            return float("nan")
        return float((self.logits(x, removed, fill).argmax(axis=1) == np.asarray(y)).mean())

    @torch.no_grad()
    def forward_layers(self, x: np.ndarray | torch.Tensor) -> list[np.ndarray]:
        """Unit activations of every layer on the samples ``x`` (first axis: samples): float64
        arrays ``(N, n_units)``; a conv channel is averaged over its positions."""
        xt = self._shaped(x)
        wanted = {name: k for k, name in enumerate(self.outputs) if k}
        got: list[dict[int, torch.Tensor]] = []

        def hook(name: str, out: Any) -> Any:
            if name in wanted:
                if not got or wanted[name] in got[-1]:
                    got.append({})
                got[-1][wanted[name]] = out
            return out

        sizes = [n for n, _ in self._run(xt, hook)] if len(xt) else []
        got = got[-len(sizes):] if sizes else []  # a failed whole-batch try leaves a first, partial entry
        acts = [xt.reshape(len(xt), -1).double().numpy()]
        for k in range(1, len(self.layers)):
            cols = []
            for n, part in zip(sizes, got, strict=True):
                v = part[k]
                v = v.mean(dim=tuple(range(2, v.dim()))) if v.dim() > 2 else v
                cols.append(v[:n].double().numpy())
            acts.append(np.concatenate(cols) if cols else np.zeros((0, self.layers[k].n_units)))
        return acts


class _FlatModule(nn.Module):
    """:meth:`FlowDag.as_module`: flat rows in, the output layer's values out."""

    def __init__(self, dag: FlowDag) -> None:
        super().__init__()
        self.dag = dag

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dag.output(x)

    def __deepcopy__(self, memo: dict) -> _FlatModule:
        # the traced graph runs through an interpreter: hooks on this wrapper never reach it, so a
        # copy can share it (copying an exported program is slow and warns)
        return _FlatModule(self.dag)


def _short(target: Any) -> str:
    """``aten.relu.default`` → ``relu``; a Python function (``operator.getitem``) → its name."""
    if not isinstance(target, torch._ops.OpOverload) and getattr(target, "__name__", None):
        return str(target.__name__)
    text = str(target)
    parts = text.split(".")
    return parts[1] if len(parts) >= 3 and parts[0] == "aten" else parts[-1]


def _module_name(node: torch.fx.Node, fallback: str) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    if stack:
        path = list(stack.values())[-1][0]
        return str(path).replace("L['self'].", "").replace("L__self___", "") or fallback
    return fallback


def read_module(module: nn.Module | Any, example: torch.Tensor | np.ndarray) -> FlowDag:
    """Trace ``module`` (an ``nn.Module`` in eval mode, or a ``torch.export`` program) on one
    ``example`` batch and read its layers of units.

    Raises :class:`UnsupportedModelError` naming the operation and the graph node for
    anything that is not a feed-forward network of Linear/Conv layers."""
    example = torch.as_tensor(np.asarray(example), dtype=torch.float32)
    if isinstance(module, torch.export.ExportedProgram):
        ep = module
    else:
        module = module.eval()
        try:  # the batch size stays free, so any number of samples can run through it
            ep = torch.export.export(module, (example,), dynamic_shapes=({0: torch.export.Dim.AUTO},))
        except Exception as exc:  # data-dependent control flow, unsupported Python
            msg = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
            raise UnsupportedModelError(f"The model cannot be traced as a feed-forward graph ({msg}).") from None
    sig = ep.graph_signature
    user_inputs = set(sig.user_inputs)
    if len(user_inputs) != 1:
        raise UnsupportedModelError(f"The model takes {len(user_inputs)} inputs; nifgraph reads models with one input tensor.")
    layers: list[DagLayer] = []
    outputs: list[str] = []
    sources: dict[str, frozenset[int]] = {}  # node → layers whose units its value carries
    owner: dict[str, int] = {}  # node → the one layer whose (transformed) units it holds
    finished = False
    for node in ep.graph.nodes:
        if node.op == "placeholder":
            if node.name in user_inputs:
                shape = tuple(example.shape[1:])
                layers.append(DagLayer("input", "input", int(np.prod(shape)) if shape else 1, ()))
                outputs.append(node.name)
                sources[node.name], owner[node.name] = frozenset({0}), 0
            continue
        if node.op == "output":
            break
        if node.op != "call_function":
            raise UnsupportedModelError(f"Unsupported graph operation {node.op} (node {node.name}).")
        op = _short(node.target)
        where = f"{node.target} (node {node.name})"
        tensor_args = [a for a in node.args if isinstance(a, torch.fx.Node) and a.name in sources]
        for a in node.args:  # lists of tensors: cat / stack
            if isinstance(a, (list, tuple)):
                tensor_args += [b for b in a if isinstance(b, torch.fx.Node) and b.name in sources]
        if not tensor_args or op in _SIZES:  # arithmetic on parameters, constants or sizes
            continue
        if finished:
            raise UnsupportedModelError(f"Operation {where} follows the final softmax; nifgraph reads it only last.")
        src = frozenset().union(*(sources[a.name] for a in tensor_args))
        first = tensor_args[0]
        if str(node.target) in _UNIT_OPS:
            val = node.meta.get("val")
            n_units = int(val.shape[1]) if val is not None and val.dim() >= 2 else 1
            k = len(layers)
            layers.append(DagLayer(_module_name(node, node.name), _UNIT_OPS[str(node.target)], n_units, tuple(sorted(src))))
            outputs.append(node.name)
            sources[node.name], owner[node.name] = frozenset({k}), k
        elif op in _ACTIVATIONS or op in _KEEP:
            sources[node.name] = src
            k = owner.get(first.name)
            if k is not None and k > 0 and len(first.users) == 1 and outputs[k] == first.name:
                outputs[k] = node.name  # the activation belongs to its layer
                if op in _ACTIVATIONS:
                    layers[k] = DagLayer(layers[k].name, layers[k].kind, layers[k].n_units, layers[k].inputs,
                                         _ACTIVATIONS[op])
            if k is not None:
                owner[node.name] = k
        elif op in _FOLLOW:
            sources[node.name] = src
            if first.name in owner:
                owner[node.name] = owner[first.name]
        elif op in _MERGE:
            sources[node.name] = src
            if len(tensor_args) == 1 and first.name in owner:  # x + constant: element-wise
                owner[node.name] = owner[first.name]
        elif op in _LAST:
            sources[node.name] = src
            finished = True
        elif op in _REFUSED_HINT:
            raise UnsupportedModelError(
                f"Unsupported operation {where}: {_REFUSED_HINT[op]} is not a feed-forward layer nifgraph can read."
            )
        else:
            raise UnsupportedModelError(
                f"Unsupported operation {where}; nifgraph reads Linear/Conv layers, element-wise activations, "
                "normalisation, pooling, reshapes, add and cat."
            )
    if len(layers) < 2:
        raise UnsupportedModelError("The model has no Linear or Conv layer; nothing to analyse.")
    val = next((n.meta.get("val") for n in ep.graph.nodes if n.name in user_inputs), None)
    fixed = val is not None and isinstance(val.shape[0], int) and module is ep
    return FlowDag(layers=layers, module=ep.module(), outputs=outputs, batch=int(val.shape[0]) if fixed else None,
                   program=ep, input_shape=tuple(int(d) for d in example.shape[1:]))


def read_program_bytes(data: bytes, input_shape: tuple[int, ...]) -> FlowDag:
    """A stored model's DAG from its ``torch.export`` bytes (see :meth:`FlowDag.program_bytes`)."""
    import io

    try:
        ep = torch.export.load(io.BytesIO(data))
    except Exception as exc:
        raise UnsupportedModelError(f"A stored torch.export program could not be read ({type(exc).__name__}).") from exc
    return read_module(ep, torch.zeros(1, *input_shape))


def dag_meta(dag: FlowDag) -> dict[str, Any]:
    """What a model record keeps of its DAG: layer names, kinds, inputs, activations, and one
    sample's shape."""
    return {
        "input_shape": list(dag.input_shape),
        "layers": [
            {"name": la.name, "kind": la.kind, "n_units": la.n_units, "inputs": list(la.inputs), "activation": la.activation}
            for la in dag.layers
        ],
    }

"""Any feed-forward PyTorch model as a DAG of layers of units, read from its traced graph.

This is the reader of "any model as a DAG of flow" (issue #11). It is pure (a module in,
layers and activation arrays out); :mod:`nifgraph.analysis.dag_flow` estimates a DAG's edges,
the pipeline stores and analyses it, and removals (pruning, its verification, ``prune --save``
through :meth:`FlowDag.masked_program`) happen inside the traced graph.

What a unit is
--------------
* the model's input: one unit per input feature (the 64 pixels of an 8×8 digit);
* a ``Linear`` layer: one unit per output feature;
* a ``Conv1d``/``Conv2d``/``Conv3d`` layer: one unit per output channel. A channel's sample
  is its activation averaged over positions (``conv_samples="mean"``, the default), so every
  layer has one sample per input row and any two layers can be paired for an MI estimate.

Positions as samples (``conv_samples="positions"``, :meth:`FlowDag.layer_samples`): between
two conv layers whose outputs have the same spatial size, every position of every image is a
sample (N × H × W of them, the same positions drawn for both layers), so an edge measures
the *local* dependence of two channels at one place, which averaging can destroy (a channel
whose mean is constant carries nothing averaged, everything per position). Every other pair
-- the input's pixels, a Linear layer, conv layers of different sizes (after pooling or a
stride, where positions do not line up one to one) -- keeps the means. The trade-off: many
more samples and local dependence, but the samples are not independent (neighbouring
positions overlap in their receptive fields, all positions of one image share it), so an
estimator's variance is larger than N × H × W suggests and a permutation null that shuffles
rows is anti-conservative (the null is refused with positions; a valid one would permute
whole images). Memory and time are capped: at most ``max_positions`` samples
(:data:`MAX_POSITION_SAMPLES`, 20,000) are drawn uniformly without replacement (seeded) per
spatial size, and activations are reduced while the model runs, in chunks of
:data:`CHUNK_ROWS` images, so no layer's full feature map is kept.

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

from .errors import UnsupportedModelError, first_line

__all__ = [
    "CONV_SAMPLES", "MAX_POSITION_SAMPLES", "DagLayer", "FlowDag", "LayerSamples", "read_module", "read_program_bytes",
    "dag_meta",
]

#: What a conv channel's samples are: its mean over positions, or every position.
CONV_SAMPLES = ("mean", "positions")
#: Position samples drawn at most per spatial size (``conv_samples="positions"``).
MAX_POSITION_SAMPLES = 20_000
#: Images run through the model at once when recording activations (bounds memory).
CHUNK_ROWS = 1024

_UNIT_OPS = {
    "aten.linear.default": "linear",
    "aten.conv1d.default": "conv",
    "aten.conv2d.default": "conv",
    "aten.conv3d.default": "conv",
    "aten.conv1d.padding": "conv",  # padding="same" / "valid"
    "aten.conv2d.padding": "conv",
    "aten.conv3d.padding": "conv",
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
    "squeeze", "unsqueeze", "unflatten", "permute", "transpose", "t", "expand", "select", "slice", "getitem",
    "mean", "sum", "amax", "pad", "constant_pad_nd", "upsample_nearest2d", "upsample_bilinear2d",
}
#: Ops that merge two tensors: the result carries the units of both.
_MERGE = {"add", "add_", "sub", "mul", "mul_", "cat", "concat", "stack", "div"}
#: Trailing ops on the logits (dropped, as for ``nn.Sequential``).
_LAST = {"softmax", "_softmax", "log_softmax", "_log_softmax"}
#: Ops that read a tensor's size or metadata, not its values (dynamic batch sizes, export's checks).
_SIZES = {"sym_size", "sym_numel", "sym_stride", "sym_storage_offset", "size", "dim", "_assert_tensor_metadata"}
_REFUSED_HINT = {
    "scaled_dot_product_attention": "attention",
    "_scaled_dot_product_flash_attention_for_cpu": "attention",
    "matmul": "attention-style products", "bmm": "attention-style products",
    "lstm": "recurrence", "gru": "recurrence", "rnn_tanh": "recurrence", "rnn_relu": "recurrence",
    "cond": "data-dependent control flow", "while_loop": "data-dependent control flow",
    "embedding": "embeddings of integer inputs (tokens, categories); give it the vectors the embedding produces",
    "embedding_bag": "embeddings of integer inputs (tokens, categories); give it the vectors the embedding produces",
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


@dataclass(frozen=True)
class LayerSamples:
    """Every layer's unit samples (see :meth:`FlowDag.layer_samples`).

    ``means[k]``: ``(N, n_units)``, a conv channel averaged over positions; ``positions[k]``
    (conv layers, ``conv_samples="positions"`` only): ``(M, n_channels)``, the same ``M``
    positions (image, place) for every layer of one spatial size; ``grids[k]``: a conv
    layer's spatial size, ``None`` for the input and Linear layers."""

    means: list[np.ndarray]
    positions: dict[int, np.ndarray] = field(default_factory=dict)
    grids: tuple[tuple[int, ...] | None, ...] = ()

    def on_positions(self, a: int, b: int) -> bool:
        """Whether the pair of layers ``a → b`` is estimated on positions."""
        return a in self.positions and b in self.positions and self.grids[a] == self.grids[b]

    def pair(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        """The samples of layers ``a`` and ``b`` for their edges: positions where both are
        conv layers of one spatial size (and positions were recorded), means otherwise."""
        if self.on_positions(a, b):
            return self.positions[a], self.positions[b]
        return self.means[a], self.means[b]


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
        """Run the graph on ``xt`` with ``hook(start_row, node_name, value) -> value`` called on
        every node; returns ``[(n_rows, output), …]`` per chunk (of :data:`CHUNK_ROWS` rows). A
        program exported for one batch size is first tried on the whole batch with its
        batch-size guard skipped (its aten ops rarely depend on it); if that fails it runs in
        chunks of that size, padded."""
        start = 0

        class _Interp(torch.fx.Interpreter):
            def call_module(self, target: Any, args: Any, kwargs: Any) -> Any:
                if str(target) == "_guards_fn":
                    return None
                return super().call_module(target, args, kwargs)

            def run_node(self, n: torch.fx.Node) -> Any:
                return hook(start, n.name, super().run_node(n))

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
        step = self.batch or max(min(len(xt), CHUNK_ROWS), 1)
        res = []
        for start in range(0, len(xt), step):
            chunk = xt[start : start + step]
            n = len(chunk)
            if n < step and self.batch:  # a fixed-batch program: pad with copies of the first row, drop them after
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

        def hook(start: int, name: str, out: Any) -> Any:
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

    def masked_program(self, removed: Any, fill: Any) -> Any:
        """The model with ``removed`` units ``(layer, idx)`` replaced by ``fill[layer][idx]``, as a
        new ``torch.export`` program: after each such layer's output node the graph gets
        ``where(mask, constants, value)`` (the mask and constants, ``(1, n_units, 1, …)``, become
        buffers of the program), so it computes what :meth:`output` computes with the same
        ``removed`` and ``fill``. Shapes are unchanged: a removed unit is still computed, then
        overwritten (:func:`nifgraph.dag_shrink.shrunk_program` removes the channels it can).
        The program takes inputs of ``input_shape`` (not flat rows); its batch size is free
        unless the graph bakes one in (then it keeps the original program's)."""
        gm, _ = self.masked_graph(removed, fill)
        return self.export_graph(gm)

    def masked_graph(self, removed: Any, fill: Any) -> tuple[Any, dict[int, Any]]:
        """:meth:`masked_program` before export: the program's ``torch.fx.GraphModule`` with the
        ``where`` nodes inserted, and those nodes by layer."""
        gm = self.program.module()
        nodes = {n.name: n for n in gm.graph.nodes}
        first = next(iter(gm.graph.nodes))
        by_layer: dict[int, list[int]] = {}
        for layer, idx in removed:
            by_layer.setdefault(int(layer), []).append(int(idx))
        wheres: dict[int, Any] = {}
        for layer, idxs in sorted(by_layer.items()):
            node = nodes[self.outputs[layer]]
            val = node.meta.get("val")
            shape = (1, self.layers[layer].n_units) + (1,) * ((val.dim() if val is not None else 2) - 2)
            mask, const = torch.zeros(shape, dtype=torch.bool), torch.zeros(shape)
            for i in idxs:
                mask[0, i], const[0, i] = True, float(fill[layer][i])
            names = (f"nifgraph_removed_{layer}", f"nifgraph_fill_{layer}")
            gm.register_buffer(names[0], mask)
            gm.register_buffer(names[1], const)
            with gm.graph.inserting_before(first):
                args = [gm.graph.get_attr(name) for name in names]
            with gm.graph.inserting_after(node):
                new = gm.graph.call_function(torch.ops.aten.where.self, (args[0], args[1], node))
            node.replace_all_uses_with(new, delete_user_cb=lambda user, new=new: user is not new)
            wheres[layer] = new
        for node in list(gm.graph.nodes):  # the input-shape guard: re-exporting checks the shapes anew
            if node.op == "call_module" and str(node.target) == "_guards_fn" and not node.users:
                gm.graph.erase_node(node)
        gm.graph.lint()
        gm.recompile()
        return gm, wheres

    def export_graph(self, gm: Any) -> Any:
        """``gm`` (this model's graph, changed) exported anew, for inputs of ``input_shape``;
        the batch size stays free where the graph allows it, else it is the program's.

        A program exported for batch ``B`` may bake ``B`` into a reshape (``view(B, C, -1)``)
        that still traces at another batch size, computing something else: its free-batch
        export is kept only if, on ``2B`` random rows, it gives what ``gm`` gives on two
        chunks of ``B``."""
        fixed = program_batch(self.program)
        try:
            free = torch.export.export(gm, (torch.zeros(2, *self.input_shape),), dynamic_shapes=({0: torch.export.Dim.AUTO},))
            if fixed is None or _same_in_chunks(free, gm, fixed, self.input_shape):
                return free
        except Exception:  # noqa: BLE001 - a batch size baked into the graph: keep the program's
            pass
        return torch.export.export(gm, (torch.zeros(fixed or 2, *self.input_shape),))

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
        return self.layer_samples(x).means

    @torch.no_grad()
    def layer_samples(
        self, x: np.ndarray | torch.Tensor, conv_samples: str = "mean", *, max_positions: int = MAX_POSITION_SAMPLES,
        seed: int = 0,
    ) -> LayerSamples:
        """Every layer's samples on ``x``: the means of :meth:`forward_layers` and, with
        ``conv_samples="positions"``, up to ``max_positions`` positions per spatial size for
        every conv layer (drawn with ``seed``, the same ones for layers of one size; see the
        module docstring for the trade-off). Feature maps are reduced chunk by chunk."""
        from .errors import param_error

        if conv_samples not in CONV_SAMPLES:
            raise param_error("conv_samples", "layer_samples", f"one of {', '.join(CONV_SAMPLES)}", conv_samples)
        xt = self._shaped(x)
        n_rows = len(xt)
        wanted = {name: k for k, name in enumerate(self.outputs) if k}
        conv = {k for k, la in enumerate(self.layers) if la.kind == "conv"} if conv_samples == "positions" else set()
        picks: dict[tuple[int, ...], np.ndarray] = {}  # spatial size → sorted flat (image, place) indices
        got: list[dict[int, tuple[np.ndarray, np.ndarray | None]]] = []
        grids: dict[int, tuple[int, ...]] = {}

        def chosen(grid: tuple[int, ...]) -> np.ndarray:
            if grid not in picks:
                total = n_rows * int(np.prod(grid))
                if total > max_positions:
                    rng = np.random.default_rng([int(seed), *grid])
                    picks[grid] = np.sort(rng.choice(total, size=int(max_positions), replace=False))
                else:
                    picks[grid] = np.arange(total)
            return picks[grid]

        def hook(start: int, name: str, out: Any) -> Any:
            if name in wanted:
                k = wanted[name]
                if not got or k in got[-1]:
                    got.append({})
                v = out.detach()
                mean = v.mean(dim=tuple(range(2, v.dim()))) if v.dim() > 2 else v  # (n, units)
                places = None
                if k in conv and v.dim() > 2:
                    grid = tuple(int(d) for d in v.shape[2:])
                    grids[k] = grid
                    per = int(np.prod(grid))
                    idx = chosen(grid)
                    lo, hi = np.searchsorted(idx, [start * per, (start + v.shape[0]) * per])
                    flat = v.movedim(1, -1).reshape(-1, v.shape[1])  # (n · places, channels)
                    local = torch.as_tensor(idx[lo:hi] - start * per)
                    places = flat[local[local < min(v.shape[0], n_rows - start) * per]].double().numpy()
                got[-1][k] = (mean.double().numpy(), places)
            return out

        sizes = [n for n, _ in self._run(xt, hook)] if n_rows else []
        got = got[-len(sizes):] if sizes else []  # a failed whole-batch try leaves a first, partial entry
        means = [xt.reshape(n_rows, -1).double().numpy()]
        positions: dict[int, np.ndarray] = {}
        for k in range(1, len(self.layers)):
            parts = [part[k] for part in got]
            cols = [m[:n] for n, (m, _) in zip(sizes, parts, strict=True)]
            means.append(np.concatenate(cols) if cols else np.zeros((0, self.layers[k].n_units)))
            if k in grids:
                positions[k] = np.concatenate([p for _, p in parts])
        grid_of = tuple(grids.get(k) for k in range(len(self.layers)))
        return LayerSamples(means, positions, grid_of)


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


def static_size(d: Any) -> int | None:
    """A traced size as an int when the program fixed it (an int, or a symbol export
    specialised to a number, as ``Dim.AUTO`` does when the graph bakes the batch in); None when
    it is free."""
    if isinstance(d, int):
        return d
    node = getattr(d, "node", None)
    value = node.maybe_as_int() if node is not None and hasattr(node, "maybe_as_int") else None
    return int(value) if value is not None else None


def _same_in_chunks(program: Any, gm: Any, batch: int, input_shape: tuple[int, ...]) -> bool:
    """Whether ``program`` on ``2 * batch`` rows equals ``gm`` on two chunks of ``batch``."""
    x = torch.randn(2 * batch, *input_shape, generator=torch.Generator().manual_seed(0))
    try:
        with torch.no_grad():
            got = program.module()(x)
            want = torch.cat([gm(x[:batch]), gm(x[batch:])])
    except Exception:  # noqa: BLE001 - it does not run at another batch size
        return False
    got, want = (t[0] if isinstance(t, (tuple, list)) else t for t in (got, want))
    return bool(got.shape == want.shape and torch.allclose(got, want, rtol=1e-4, atol=1e-5))


def program_batch(program: Any) -> int | None:
    """The batch size a ``torch.export`` program is fixed to, or None when it is free."""
    val = next((n.meta.get("val") for n in program.graph.nodes if n.op == "placeholder"
                and n.name in set(program.graph_signature.user_inputs)), None)
    return static_size(val.shape[0]) if val is not None and getattr(val, "dim", lambda: 0)() > 0 else None


def run_program(program: Any, x: torch.Tensor) -> torch.Tensor:
    """``program`` (a ``torch.export`` program) on ``x`` ``(N, …)``, without autograd; one
    exported for a fixed batch size runs in chunks of that size (the last padded with copies
    of its first row, dropped after)."""
    step = program_batch(program)
    module = program.module()
    with torch.no_grad():
        if not step or step == len(x):
            out = module(x)
            return out[0] if isinstance(out, (tuple, list)) else out
        parts = []
        for start in range(0, len(x), step):
            chunk = x[start : start + step]
            n = len(chunk)
            if n < step:
                chunk = torch.cat([chunk, chunk[:1].expand(step - n, *chunk.shape[1:])])
            out = module(chunk)
            parts.append((out[0] if isinstance(out, (tuple, list)) else out)[:n])
        return torch.cat(parts)


def _short(target: Any) -> str:
    """``aten.relu.default`` → ``relu``; a Python function (``operator.getitem``) → its name."""
    if not isinstance(target, torch._ops.OpOverload) and getattr(target, "__name__", None):
        return str(target.__name__)
    text = str(target)
    parts = text.split(".")
    return parts[1] if len(parts) >= 3 and parts[0] == "aten" else parts[-1]


def training_mode_error(node: torch.fx.Node) -> UnsupportedModelError | None:
    """The refusal for a graph node that runs as in training -- batch norm on the batch's own
    statistics, dropout that drops -- so that outputs depend on the batch and on chance; None
    for any other node."""
    if node.op != "call_function":
        return None
    op, args = _short(node.target), node.args
    batch_stats = op in ("batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_functional")
    dropping = op in ("dropout", "feature_dropout", "alpha_dropout", "native_dropout")
    flag = args[5] if batch_stats and len(args) > 5 else args[2] if dropping and len(args) > 2 else None
    if flag is not True:
        return None
    what = "normalises with each batch's own statistics" if batch_stats else "drops units at random"
    return UnsupportedModelError(
        f"The model was exported in training mode: {op} (node {node.name}) {what}, so its outputs depend on the batch; "
        "call model.eval() before torch.export.export."
    )


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
            raise UnsupportedModelError(f"The model cannot be traced as a feed-forward graph ({first_line(exc, 160)}).") from None
    sig = ep.graph_signature
    user_inputs = set(sig.user_inputs)
    if len(user_inputs) != 1:
        raise UnsupportedModelError(f"The model takes {len(user_inputs)} inputs; nifgraph reads models with one input tensor.")
    layers: list[DagLayer] = []
    outputs: list[str] = []
    sources: dict[str, frozenset[int]] = {}  # node → layers whose units its value carries
    owner: dict[str, int] = {}  # node → the one layer whose (transformed) units it holds
    finished = ""  # the final softmax's node, once seen
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
        refusal = training_mode_error(node)
        if refusal is not None:
            raise refusal
        op = _short(node.target)
        where = f"{node.target} (node {node.name})"
        tensor_args = [a for a in node.args if isinstance(a, torch.fx.Node) and a.name in sources]
        for a in node.args:  # lists of tensors: cat / stack
            if isinstance(a, (list, tuple)):
                tensor_args += [b for b in a if isinstance(b, torch.fx.Node) and b.name in sources]
        if not tensor_args or op in _SIZES:  # arithmetic on parameters, constants or sizes
            continue
        if finished:
            raise UnsupportedModelError(
                f"Operation {where} follows a softmax (node {finished}); nifgraph reads a softmax only as the model's last "
                "operation: return the logits (drop the softmax inside the network, or move it after the last layer)."
            )
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
            finished = node.name
        elif op in _REFUSED_HINT:
            raise UnsupportedModelError(
                f"Unsupported operation {where}: nifgraph reads feed-forward layers of units, not {_REFUSED_HINT[op]}."
            )
        else:
            raise UnsupportedModelError(
                f"Unsupported operation {where}; nifgraph reads Linear/Conv layers, element-wise activations, "
                "normalisation, pooling, reshapes and element-wise joins (add, sub, mul, div, cat)."
            )
    if len(layers) < 2:
        raise UnsupportedModelError("The model has no Linear or Conv layer; nothing to analyse.")
    val = next((n.meta.get("val") for n in ep.graph.nodes if n.name in user_inputs), None)
    fixed = static_size(val.shape[0]) if val is not None else None
    dag = FlowDag(layers=layers, module=ep.module(), outputs=outputs, batch=fixed,
                  program=ep, input_shape=tuple(int(d) for d in example.shape[1:]))
    if dag.batch is None and _runs(dag, len(example)):  # a free batch size: check the graph does not fix one after all
        probe = 3 if len(example) != 3 else 5
        try:
            with torch.no_grad():
                dag.output(torch.zeros(probe, *dag.input_shape))
        except Exception as exc:  # noqa: BLE001 - e.g. a reshape to (2, -1) traced into the graph
            raise UnsupportedModelError(
                f"The model runs on a batch of {len(example)} but not of {probe} ({first_line(exc, 120)}): its graph "
                "fixes or constrains the batch size; reshape with x.flatten(1) or x.reshape(x.shape[0], -1), not a number or len(x), "
                "before exporting."
            ) from None
    return dag


def _runs(dag: FlowDag, n: int) -> bool:
    """Whether ``dag`` runs on ``n`` rows of zeros (a wrong sample shape is reported later, by
    whoever runs it on data)."""
    try:
        with torch.no_grad():
            dag.output(torch.zeros(max(n, 1), *dag.input_shape))
        return True
    except Exception:  # noqa: BLE001
        return False


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

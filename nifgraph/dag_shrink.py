"""A pruned DAG model made physically smaller: removed units cut out of the layers that compute
and read them, where that computes exactly what the verified removal computes.

:meth:`nifgraph.dag.FlowDag.masked_program` keeps every shape and overwrites a removed unit
with its constant. :func:`shrunk_program` goes further: a removed channel (or feature) of layer
``L`` is deleted from

* the op that computes it -- the rows of a ``Linear``/``Conv`` weight and bias (groups = 1,
  not transposed), and the entries of a ``BatchNorm`` after it -- and
* every op that reads it -- the input columns of the next ``Linear``/``Conv`` weights, through
  element-wise activations, copies, max/adaptive/average pooling, padding, upsampling, a
  ``BatchNorm`` after pooling (its entries go too), means/sums/maxima over positions,
  ``squeeze``/``unsqueeze``/indexing/slicing of positions (``pool(x)[:, :, 0, 0]``), and
  ``flatten``/``view`` to ``(N, features)`` (a channel is a block of features there, and a
  fixed view size is rewritten) --
* and a depthwise convolution on the way (one filter per channel) loses the matching channel
  (filter, bias, BatchNorm entries; ``groups`` shrinks): ``ShrinkResult.also_cut`` --

and the constant it sent is folded into the reader's bias: ``b += W[:, removed] · value``
(a conv's kernel summed over its positions; a reader without a bias gets one). The value a
reader takes in is read from a run of the masked model on sample rows, so what the ops on the
way do to the constant is measured: a unit is cut only if every reader sees it constant, and
a nonzero constant only if the reader does not pad with zeros (a conv that pads sees the
constant inside the image and 0 at its border; a dead ReLU's 0 is always cut). This is
decided per unit, so one layer can have some units cut and others masked.

Units stay masked (their layer keeps them, overwritten, as before) when cutting is not possible
-- the layer's values reach a residual ``add``, a ``cat``, the model's output or an op not
listed above, a weight is shared, a ``Linear`` runs along positions, or every unit of the layer
would go -- and the reason is returned. The result is checked against
:meth:`~nifgraph.dag.FlowDag.output` with the same removal; if the logits differ (more than
1e-4 relative) or the cut fails in any way, nothing is cut and the masked program is returned,
with that reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from .dag import _ACTIVATIONS, _UNIT_OPS, FlowDag, _short, run_program
from .errors import first_line

__all__ = ["ShrinkResult", "shrunk_program"]

#: Ops that keep every element's position: a constant channel stays one.
_ELEMENTWISE = set(_ACTIVATIONS) | {"dropout", "feature_dropout", "alpha_dropout", "clone", "alias", "detach", "contiguous"}
_BATCH_NORMS = {"batch_norm", "_native_batch_norm_legit_no_training"}
_POOLS = {
    "max_pool1d", "max_pool2d", "max_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "max_pool2d_with_indices", "max_pool3d_with_indices",
}
#: Ops on positions that keep the units in dim 1; whether a removed unit's constant survives them
#: (average pooling or zero padding keep only a 0; reflect/replicate padding any constant) is
#: read from the recorded values where a layer takes the units in.
_SPATIAL = {
    "avg_pool1d", "avg_pool2d", "avg_pool3d", "constant_pad_nd", "pad", "reflection_pad1d", "reflection_pad2d",
    "reflection_pad3d", "replication_pad1d", "replication_pad2d", "replication_pad3d", "upsample_nearest1d",
    "upsample_nearest2d", "upsample_nearest3d", "_upsample_nearest_exact1d", "_upsample_nearest_exact2d",
    "upsample_bilinear2d", "upsample_linear1d", "upsample_bicubic2d",
}
_REDUCTIONS = {"mean", "sum", "amax"}
#: Shape ops that leave the units in dim 1 when their dims are positions (2 or later):
#: ``pool(x).squeeze(-1)``, ``x[:, :, 0, 0]``, ``x[..., 1:]``, ``x.unsqueeze(-1)``.
_POSITION_SHAPES = {"squeeze", "unsqueeze", "select", "slice"}
_FLATTENS = {"flatten", "view", "reshape", "_unsafe_view"}
_ARITH = {"add", "add_", "sub", "mul", "mul_", "div"}
_JOINS = _ARITH | {"cat", "concat", "stack"}


def _tensor_args(node: Any) -> list[Any]:
    """The graph values ``node`` reads (lists of them too: ``cat``), parameters excluded."""
    out = []
    for a in node.args:
        for b in a if isinstance(a, (list, tuple)) else (a,):
            if isinstance(b, torch.fx.Node) and b.op != "get_attr":
                out.append(b)
    return out


class _Kept(Exception):
    """Why a layer's removed units stay masked."""


class _KeptUnits(_Kept):
    """Why some of a layer's removed units (``units``, their indices) stay masked; the others
    may still be cut."""

    def __init__(self, units: set[int], why: str) -> None:
        super().__init__(why)
        self.units = units


@dataclass(frozen=True)
class ShrinkResult:
    """What :func:`shrunk_program` made.

    ``program``: the ``torch.export`` program; ``layer_sizes``: units per layer after the cut;
    ``cut`` / ``masked``: the removed units deleted / overwritten in place; ``why_masked``:
    layer → why its units could not be cut; ``also_cut``: channels of depthwise convolutions
    deleted with the cut channel they read (their values then constant, folded further on)."""

    program: Any
    layer_sizes: tuple[int, ...]
    cut: tuple[tuple[int, int], ...]
    masked: tuple[tuple[int, int], ...]
    why_masked: dict[int, str] = field(default_factory=dict)
    also_cut: tuple[tuple[int, int], ...] = ()


@dataclass
class _Plan:
    """The cut of one layer: parameter target → (dim, kept indices); bias target → addition;
    views to rewrite (node, new size)."""

    keep: dict[str, tuple[int, list[int]]] = field(default_factory=dict)
    fold: dict[str, torch.Tensor] = field(default_factory=dict)
    views: list[tuple[Any, list[Any]]] = field(default_factory=list)
    new_bias: dict[str, tuple[Any, torch.Tensor]] = field(default_factory=dict)  # reader node name → (node, bias)
    cut: list[int] = field(default_factory=list)
    keep_units: list[int] = field(default_factory=list)
    groups: list[tuple[Any, int]] = field(default_factory=list)  # depthwise convs: (node, new groups)
    also: dict[int, list[int]] = field(default_factory=dict)  # depthwise layer → its channels cut along


def shrunk_program(dag: FlowDag, removed: Any, fill: Any, sample: np.ndarray | torch.Tensor) -> ShrinkResult:
    """``dag`` with ``removed`` units ``(layer, idx)`` replaced by ``fill[layer][idx]`` (the
    removal of :meth:`~nifgraph.dag.FlowDag.output`), as a ``torch.export`` program with every
    unit it can cut deleted (see the module's docstring) and the rest masked.

    Parameters
    ----------
    dag : FlowDag
    removed : iterable of (layer, idx)
        Hidden units (0 < layer < last).
    fill : list of ndarray
        One (n_units,) array per layer: each removed unit's value.
    sample : ndarray, shape (n_samples, n_inputs)
        Rows (the training split's first few) to read each cut unit's constant where its
        readers see it, and to check the result against the masked model.
    """
    units = sorted({(int(a), int(b)) for a, b in removed})
    by_layer: dict[int, list[int]] = {}
    for layer, idx in units:
        by_layer.setdefault(layer, []).append(idx)
    xs = _rows(dag, sample)
    gm, wheres = dag.masked_graph(units, fill)
    values = _values(gm, xs)
    plans: dict[int, _Plan] = {}
    why: dict[int, str] = {}
    claimed: set[tuple[str, int]] = set()
    for layer, idxs in sorted(by_layer.items()):
        todo = list(idxs)
        while todo:
            try:
                plan = _plan(gm, dag, layer, wheres[layer], todo, values)
                mine = {(t, d) for t, (d, _) in plan.keep.items()}
                if mine & claimed:
                    raise _Kept("a weight it changes is also changed by another cut layer")
                claimed |= mine
                plans[layer] = plan
                break
            except _KeptUnits as exc:  # these units stay; try the others
                why[layer] = f"{why[layer]}; {exc}" if layer in why else str(exc)
                todo = [i for i in todo if i not in exc.units]
            except _Kept as exc:
                why[layer] = f"{why[layer]}; {exc}" if layer in why else str(exc)
                break
            except Exception as exc:  # noqa: BLE001 - an op read in a way the walk does not know: masked
                why[layer] = f"planning the cut failed ({first_line(exc, 120)})"
                break
    masked_all = dag.export_graph(gm)
    if not plans:
        return ShrinkResult(masked_all, dag.layer_sizes, (), tuple(units), why)
    try:
        _apply(gm, plans, wheres)
        program = dag.export_graph(gm)
        # the sample rows, and as many random ones at four times their spread: a removed unit's
        # constant does not depend on the input, so the cut must match the removal on any input
        # (units that happen to be silent on the sample rows cannot hide an op read wrongly)
        noise = torch.randn(xs.shape, generator=torch.Generator().manual_seed(0)) * (4 * float(xs.std()) + 1e-3)
        failed = ""
        for rows in (xs, noise):
            want = dag.output(rows, units, fill).detach().numpy()
            got = run_program(program, rows.reshape(len(rows), *dag.input_shape)).numpy()
            err = float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")
            if err > 1e-4 * max(1.0, float(np.abs(want).max())):
                failed = f"cutting changed the logits (by up to {err:.2g})"
                break
    except Exception as exc:  # noqa: BLE001 - any failure of the cut: the masked program stands
        failed = f"cutting failed ({first_line(exc, 120)})"
    if failed:
        return ShrinkResult(masked_all, dag.layer_sizes, (), tuple(units),
                            {la: f"{failed}, so every removed unit is masked" for la in by_layer})
    also = {(la, i) for plan in plans.values() for la, idxs in plan.also.items() for i in idxs}
    cut = tuple(sorted({(la, i) for la, plan in plans.items() for i in plan.cut} | (also & set(units))))
    sizes = [n - sum(1 for la, _ in {*cut, *also} if la == k) for k, n in enumerate(dag.layer_sizes)]
    return ShrinkResult(program, tuple(sizes), cut, tuple(u for u in units if u not in set(cut)),
                        {la: w for la, w in why.items() if any(u[0] == la and u not in set(cut) for u in units)},
                        tuple(sorted(also - set(units))))


def _rows(dag: FlowDag, sample: Any) -> torch.Tensor:
    """Up to 64 sample rows, as float32 ``(n, *input_shape)``; a program exported for one batch
    size gets exactly that many (rows repeated if needed)."""
    xt = torch.as_tensor(np.asarray(sample), dtype=torch.float32)
    xt = xt.reshape(len(xt), *dag.input_shape)[:64]
    if len(xt) == 0:
        raise ValueError("shrunk_program needs at least one sample row")
    if dag.batch and len(xt) != dag.batch:
        xt = xt[torch.arange(dag.batch) % len(xt)]
    return xt


def _values(gm: Any, xs: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every tensor value of ``gm``'s graph on ``xs``, by node name."""
    got: dict[str, torch.Tensor] = {}

    class _Record(torch.fx.Interpreter):
        def run_node(self, n: torch.fx.Node) -> Any:
            out = super().run_node(n)
            if isinstance(out, torch.Tensor) and n.op == "call_function":
                got[n.name] = out.detach()
            return out

    with torch.no_grad():
        _Record(gm).run(xs)
    return got


def _attr(node: Any) -> str | None:
    return str(node.target) if isinstance(node, torch.fx.Node) and node.op == "get_attr" else None


def _plan(gm: Any, dag: FlowDag, layer: int, where: Any, idxs: list[int], values: dict[str, torch.Tensor]) -> _Plan:
    """How to cut ``idxs`` out of ``layer`` (whose masked output is ``where``), or :class:`_Kept`."""
    n = dag.layers[layer].n_units
    keep = [i for i in range(n) if i not in set(idxs)]
    if not keep:
        raise _Kept("all its units are removed, and a layer keeps at least one")
    plan = _Plan(cut=list(idxs), keep_units=keep)
    # the op computing the layer, and the per-unit ops between it and the layer's output
    node = where.args[2]
    while str(node.target) not in _UNIT_OPS:
        op = _short(node.target)
        src = node.args[0] if node.args else None
        if node.op != "call_function" or not isinstance(src, torch.fx.Node):
            raise _Kept(f"{op} (node {node.name}) computes the layer's output")
        if op in _BATCH_NORMS:
            for a in node.args[1:5]:
                if a is not None:
                    plan.keep[_need_attr(a, node)] = (0, keep)
        elif op == "getitem" and _short(src.target) in _BATCH_NORMS and node.args[1] == 0:
            if any(u is not node for u in src.users):
                raise _Kept(f"batch norm statistics (node {src.name}) are read elsewhere")
        elif op not in _ELEMENTWISE:
            raise _Kept(f"{op} (node {node.name}) lies between the layer's weights and its output")
        if len(src.users) != 1:
            raise _Kept(f"the layer's value before {op} (node {src.name}) is read elsewhere")
        node = src
    _groups_one(node)
    if "linear" in str(node.target) and _rank(node) != 2:
        raise _Kept(f"{node.name} is a Linear along positions, not across units")
    plan.keep[_need_attr(node.args[1], node)] = (0, keep)
    if len(node.args) > 2 and node.args[2] is not None:
        plan.keep[_need_attr(node.args[2], node)] = (0, keep)
    # every op reading the layer's units, up to the Linear/Conv layers that take them in
    stack: list[tuple[Any, int]] = [(where, 0)]  # (node, features per unit; 0: units are dim 1)
    while stack:
        value, block = stack.pop()
        for user in value.users:
            op = _short(user.target)
            if user.op == "output":
                raise _Kept("its values are the model's output")
            if op in _JOINS and sum(a is not value for a in _tensor_args(user)) > 0:
                raise _Kept(f"a {'residual ' if op in _ARITH else ''}{op} (node {user.name}) joins its units with others")
            if block == 0 and _removal_mask(user) and user.args[2] is value and value is not where:
                # a later layer's own removal (a depthwise layer whose matching channels are removed
                # too): its mask loses the cut channels with the layer, the rest it keeps overwriting
                for a in user.args[:2]:
                    plan.keep[str(a.target)] = (1, keep)
                stack.append((user, 0))
                continue
            if user.args[0] is not value:
                raise _Kept(f"{op} (node {user.name}) reads the layer's values other than as its input")
            if str(user.target) in _UNIT_OPS and block == 0 and _depthwise(user):
                _through_depthwise(plan, dag, user, idxs, keep)
                stack.append((user, 0))
            elif str(user.target) in _UNIT_OPS:
                _fold_reader(plan, user, value, block, idxs, n, values)
            elif op in _ELEMENTWISE or (op in _ARITH and all(isinstance(a, (int, float)) for a in user.args[1:2])):
                stack.append((user, block))
            elif block == 0 and op in _SPATIAL:
                val, out = _val(value), _val(user)
                if val is None or out is None or out.dim() < 2 or int(out.shape[1]) != int(val.shape[1]):
                    raise _Kept(f"{op} (node {user.name}) changes the number of units")
                _on_positions(op, user, val)
                stack.append((user, 0))
            elif block == 0 and op in _BATCH_NORMS:  # normalisation of the units after pooling: its entries go too
                for a in user.args[1:5]:
                    if a is not None:
                        plan.keep[_need_attr(a, user)] = (0, keep)
                stack.append((user, 0))
            elif block == 0 and op == "getitem" and _short(value.target) in _BATCH_NORMS and user.args[1] == 0:
                stack.append((user, 0))
            elif block == 0 and op in _POOLS:
                _on_positions(op, user, _val(value))
                if isinstance(user.meta.get("val"), (tuple, list)):  # (values, indices)
                    for g in user.users:
                        if _short(g.target) != "getitem" or (g.args[1] != 0 and g.users):
                            raise _Kept(f"{op} (node {user.name}) is read other than for its values")
                        if g.args[1] == 0:
                            stack.append((g, 0))
                else:
                    stack.append((user, 0))
            elif block == 0 and op in _REDUCTIONS:
                rank = _rank(value)
                given = user.args[1] if len(user.args) > 1 else user.kwargs.get("dim")
                dims = [d % rank for d in _ints(list(range(rank)) if given is None or given == [] else given)]
                if 0 in dims or 1 in dims:
                    raise _Kept(f"{op} (node {user.name}) mixes the layer's units")
                stack.append((user, 0))
            elif block == 0 and op in _POSITION_SHAPES:
                _check_positions(op, user, value)
                stack.append((user, 0))
            elif block == 0 and op in _FLATTENS:
                stack.append((user, _flat_block(plan, user, value, n, keep)))
            else:
                raise _Kept(f"{op} (node {user.name}) reads its units")
    return plan


def _removal_mask(node: Any) -> bool:
    """Whether ``node`` is a ``where(mask, constants, value)`` that :meth:`FlowDag.masked_graph` inserted."""
    return (node.target is torch.ops.aten.where.self and isinstance(node.args[0], torch.fx.Node)
            and node.args[0].op == "get_attr" and str(node.args[0].target).startswith("nifgraph_removed_"))


def _conv_groups(node: Any) -> tuple[bool, int, int]:
    """(transposed, groups, index of the groups argument) of a convolution node."""
    args = node.args
    if "convolution" in str(node.target):  # (x, w, b, stride, padding, dilation, transposed, output_padding, groups)
        return bool(args[6]), int(args[8]), 8
    return False, int(args[6]) if len(args) > 6 else 1, 6  # conv{1,2,3}d: (x, w, b, stride, padding, dilation, groups)


def _depthwise(node: Any) -> bool:
    """A depthwise convolution with one filter per channel: output channel c reads input c only."""
    if "conv" not in str(node.target):
        return False
    transposed, groups, _ = _conv_groups(node)
    w = _val(node.args[1])
    return (not transposed and groups > 1 and w is not None and int(w.shape[0]) == groups
            and int(w.shape[1]) == 1)


def _through_depthwise(plan: _Plan, dag: FlowDag, node: Any, idxs: list[int], keep: list[int]) -> None:
    """A depthwise conv reading the cut channels: its matching channels go too (their filters and
    biases), and the walk goes on to what reads it; those channels' values are then measured
    where the next Linear/Conv reads them, as for any cut unit."""
    plan.keep[_need_attr(node.args[1], node)] = (0, keep)
    if len(node.args) > 2 and node.args[2] is not None:
        plan.keep[_need_attr(node.args[2], node)] = (0, keep)
    plan.groups.append((node, len(keep)))
    outs = {name: k for k, name in enumerate(dag.outputs)}
    at = node
    for _ in range(16):  # the depthwise layer's own output: the conv, or after its BatchNorm / activation
        if at.name in outs:
            plan.also.setdefault(outs[at.name], []).extend(idxs)
            return
        if len(at.users) != 1:
            break
        at = next(iter(at.users))
    raise _Kept(f"the layer of the depthwise convolution {node.name} was not found")


def _on_positions(op: str, user: Any, val: Any) -> None:
    """Raise :class:`_Kept` unless the pooling / padding / upsampling ``user`` acts on positions
    only: its input is batched with units in dim 1 (an ``(N, units)`` tensor is one unbatched
    signal to a 1-d pool, which would then pool across the units), and a constant pad pads the
    positions, not the units."""
    rank = val.dim() if val is not None else 0
    spatial = next((int(c) for c in ("1", "2", "3") if op.endswith(f"{c}d") or op.endswith(f"{c}d_with_indices")), None)
    if spatial is not None and rank != spatial + 2:
        raise _Kept(f"{op} (node {user.name}) gets a {rank}-d input, so it would act on the units")
    if op in ("constant_pad_nd", "pad"):
        pad = _ints(user.args[1])
        if rank < 3 or len(pad) // 2 > rank - 2:
            raise _Kept(f"{op} (node {user.name}) pads the units or the batch, not only positions")


def _check_positions(op: str, user: Any, value: Any) -> None:
    """Raise :class:`_Kept` unless the shape op ``user`` acts on positions only (dims ≥ 2)."""
    val, out = _val(value), _val(user)
    if val is None or out is None or out.dim() < 2 or int(out.shape[1]) != int(val.shape[1]):
        raise _Kept(f"{op} (node {user.name}) changes the number of units")
    rank = out.dim() if op == "unsqueeze" else val.dim()
    if len(user.args) > 1:
        dims = [d % rank for d in _ints(user.args[1])]
    elif op == "squeeze":  # every size-1 dim: the batch too, when it is 1
        dims = [d for d in range(rank) if isinstance(val.shape[d], int) and val.shape[d] == 1]
    else:
        dims = [0]
    if op == "slice" and dims[0] < 2 and _whole_slice(user, val.shape[dims[0]]):
        return  # x[:, :, ...]: the batch or the units kept whole
    if any(d < 2 for d in dims):
        raise _Kept(f"{op} (node {user.name}) acts on the batch or the units, not on positions")


def _whole_slice(node: Any, size: Any) -> bool:
    """``slice(x, dim, start, end, step)`` takes every index of a dim of ``size``."""
    start, end, step = (list(node.args[2:]) + [None, None, None])[:3]
    if start not in (None, 0) or step not in (None, 1):
        return False
    return end is None or (isinstance(end, int) and (end >= 2**62 or (isinstance(size, int) and end >= size)))


def _need_attr(node: Any, user: Any) -> str:
    target = _attr(node)
    if target is None:
        raise _Kept(f"a weight of {user.name} is computed in the graph, not stored")
    if len(node.users) != 1:
        raise _Kept(f"the weight {target} is shared by several ops")
    return target


def _groups_one(node: Any) -> None:
    if "conv" not in str(node.target):
        return
    transposed, groups, _ = _conv_groups(node)
    if transposed or groups != 1:
        raise _Kept(f"{node.name} is a {'transposed' if transposed else 'grouped'} convolution")


def _padding(node: Any) -> list[int]:
    args = node.args
    pad = args[4] if len(args) > 4 else 0
    if isinstance(pad, str):  # "same" / "valid": "same" pads only a kernel wider than 1
        w = _val(args[1])
        return [1] if pad == "same" and w is not None and any(int(k) > 1 for k in w.shape[2:]) else [0]
    return _ints(pad)


def _ints(v: Any) -> list[int]:
    return [int(a) for a in v] if isinstance(v, (list, tuple)) else [int(v)]


def _val(node: Any) -> Any:
    """The traced value of ``node`` (a mask nifgraph inserted has the shape of what it masks)."""
    val = node.meta.get("val")
    if val is None and node.target is torch.ops.aten.where.self:
        val = node.args[2].meta.get("val")
    return val


def _rank(node: Any) -> int:
    val = _val(node)
    if val is None or not hasattr(val, "dim"):
        raise _Kept(f"the shape of {node.name} is unknown")
    return int(val.dim())


def _flat_block(plan: _Plan, user: Any, value: Any, n: int, keep: list[int]) -> int:
    """Features per unit after ``user`` flattens ``(N, n, …)`` to ``(N, n·block)``; a ``view``
    or ``reshape`` gets its size rewritten."""
    val, out = _val(value), _val(user)
    if val is None or out is None or out.dim() != 2 or int(val.shape[1]) != n:
        raise _Kept(f"{_short(user.target)} (node {user.name}) reshapes its units other than to (N, features)")
    try:
        block = int(np.prod([int(d) for d in val.shape[2:]])) if val.dim() > 2 else 1
        if int(out.shape[1]) != n * block:
            raise TypeError
    except TypeError:
        raise _Kept(f"{_short(user.target)} (node {user.name}) mixes the batch with the units") from None
    op = _short(user.target)
    if op == "flatten" and _ints(user.args[1] if len(user.args) > 1 else 0)[0] != 1:
        raise _Kept(f"flatten (node {user.name}) folds the batch into the units")
    if op != "flatten":
        size = list(user.args[1])
        if len(size) != 2 or not isinstance(size[1], int) or size[1] not in (n * block, -1):
            raise _Kept(f"{op} (node {user.name}) has a size nifgraph cannot rewrite")
        if size[1] != -1:
            plan.views.append((user, [size[0], len(keep) * block]))
    return block


def _fold_reader(plan: _Plan, reader: Any, value: Any, block: int, idxs: list[int], n: int,
                 values: dict[str, torch.Tensor]) -> None:
    """Cut the removed units' columns out of ``reader``'s weight, their constants into its bias
    (a new one if it has none). Units whose constant does not reach it whole (not constant
    there, or nonzero where it pads with zeros) raise :class:`_KeptUnits`."""
    _groups_one(reader)
    wname = _need_attr(reader.args[1], reader)
    w = _param(reader.graph.owning_module, wname).detach()
    conv = "conv" in str(reader.target)
    t = values.get(value.name)
    if t is None:
        raise _Kept(f"the values read by {reader.name} were not recorded")
    if conv and block:
        raise _Kept(f"{reader.name} reads flattened features as a convolution")
    if not conv and not block and _rank(value) != 2:
        raise _Kept(f"{reader.name} applies a Linear along positions, not across the layer's units")
    width = n * block if block else n
    if int(w.shape[1]) != width:
        raise _Kept(f"{reader.name}'s weight does not match the units it reads")
    per = max(block, 1)
    fold = torch.zeros(w.shape[0], dtype=torch.float64)
    pads = any(_padding(reader)) if conv else False
    varying: set[int] = set()
    padded: set[int] = set()
    for unit in idxs:
        for col in range(unit * per, (unit + 1) * per):
            v = t[:, col].double()
            lo, hi = float(v.min()), float(v.max())
            if hi - lo > 1e-6 * (1.0 + abs(hi)):
                varying.add(unit)
            elif hi != 0.0 and pads:
                padded.add(unit)
            elif hi != 0.0:
                fold += hi * (w[:, col].double().reshape(w.shape[0], -1).sum(dim=1))
    if varying:
        raise _KeptUnits(varying, f"what {reader.name} reads of unit(s) {sorted(varying)} is not constant (an op on the "
                                  "way, such as average pooling or zero padding, changes it at the border)")
    if padded:
        raise _KeptUnits(padded, f"{reader.name} pads with zeros, so the nonzero constant(s) of unit(s) {sorted(padded)} "
                                 "cannot be folded into its bias exactly")
    removed = {c for unit in idxs for c in range(unit * per, (unit + 1) * per)}
    plan.keep[wname] = (1, [c for c in range(width) if c not in removed])
    if bool(fold.abs().max() > 0):
        bname = _attr(reader.args[2]) if len(reader.args) > 2 else None
        if bname is None:
            if len(reader.args) > 2 and reader.args[2] is not None:
                raise _Kept(f"the bias of {reader.name} is computed in the graph")
            plan.new_bias[reader.name] = (reader, fold)
        else:
            _need_attr(reader.args[2], reader)
            plan.fold[bname] = fold


def _param(gm: Any, target: str) -> torch.Tensor:
    *path, name = target.split(".")
    return getattr(gm.get_submodule(".".join(path)) if path else gm, name)


def _masked_left(gm: Any, where: Any, plan: _Plan) -> bool:
    """Whether the mask of ``where`` still overwrites units once ``plan.cut`` are cut."""
    mask = getattr(gm, str(where.args[0].target))
    left = mask.index_select(1, torch.as_tensor(plan.keep_units, dtype=torch.long))
    return bool(left.any())


def _apply(gm: Any, plans: dict[int, _Plan], wheres: dict[int, Any]) -> None:
    """Change the parameters, views and masks of ``gm`` as ``plans`` say."""
    folds: dict[str, torch.Tensor] = {}
    keeps: dict[str, list[tuple[int, list[int]]]] = {}
    for layer, plan in plans.items():
        for target, fold in plan.fold.items():
            folds[target] = folds.get(target, 0) + fold
        for target, kept in plan.keep.items():
            keeps.setdefault(target, []).append(kept)
        for node, size in plan.views:
            node.args = (node.args[0], size, *node.args[2:])
        for node, groups in plan.groups:
            args = list(node.args)
            args[_conv_groups(node)[2]] = groups
            node.args = tuple(args)
        for reader, bias in plan.new_bias.values():
            name = f"nifgraph_bias_{reader.name}"
            gm.register_parameter(name, nn.Parameter(bias.float(), requires_grad=False))
            with gm.graph.inserting_before(reader):
                got = gm.graph.get_attr(name)
            args = list(reader.args)
            args += [None] * (3 - len(args))
            args[2] = got
            reader.args = tuple(args)
        where = wheres[layer]
        mask_args = where.args[:2]
        if _masked_left(gm, where, plan):
            for a in mask_args:  # some removed units stay: the mask keeps only the layer's remaining units
                buf = getattr(gm, str(a.target))
                gm.register_buffer(str(a.target), buf.index_select(1, torch.as_tensor(plan.keep_units, dtype=torch.long)))
            continue
        _drop_mask(gm, where)
    for plan in plans.values():  # a new bias follows its reader's rows, cut by the reader's own layer
        for reader, _bias in plan.new_bias.values():
            rows = [kept for dim, kept in keeps.get(_attr(reader.args[1]) or "", []) if dim == 0]
            name = f"nifgraph_bias_{reader.name}"
            for kept in rows:
                gm.register_parameter(name, nn.Parameter(
                    getattr(gm, name).detach().index_select(0, torch.as_tensor(kept, dtype=torch.long)), requires_grad=False))
    for target in set(folds) | set(keeps):
        old = _param(gm, target)
        new = old.detach().clone()
        if target in folds:
            new = (new.double() + folds[target]).to(old.dtype)
        for dim, kept in keeps.get(target, []):
            new = new.index_select(dim, torch.as_tensor(kept, dtype=torch.long))
        *path, name = target.split(".")
        owner = gm.get_submodule(".".join(path)) if path else gm
        if isinstance(old, nn.Parameter):
            setattr(owner, name, nn.Parameter(new, requires_grad=False))
        else:
            owner.register_buffer(name, new)
    for node in list(gm.graph.nodes):  # a mask left with nothing to overwrite goes
        if _removal_mask(node) and not bool(getattr(gm, str(node.args[0].target)).any()):
            _drop_mask(gm, node)
    gm.graph.lint()
    gm.recompile()


def _drop_mask(gm: Any, where: Any) -> None:
    """Remove the ``where(mask, constants, value)`` node ``where`` (its readers read the value),
    and its two buffers once nothing else reads them."""
    bufs = where.args[:2]
    where.replace_all_uses_with(where.args[2])
    gm.graph.erase_node(where)
    for a in bufs:
        if not a.users:
            gm.graph.erase_node(a)
            delattr(gm, str(a.target))

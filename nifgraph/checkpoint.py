"""Model files: nifgraph's own checkpoints (weights and block structure, loadable with
``torch.load(weights_only=True)``) and a user's model saved as a ``torch.export`` program
(``.pt2``), as TorchScript or (trusted files only) with ``torch.save``, read into a
:class:`~nifgraph.network.Network`."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import StoreError, UnsupportedModelError, ValidationError, first_line
from .network import ACTIVATIONS, Network, from_module

__all__ = ["CHECKPOINT_FORMAT", "checkpoint_bytes", "network_from_bytes", "save_checkpoint", "load_network"]

CHECKPOINT_FORMAT = "nifgraph-mlp/1"


def _payload(net: Network, meta: dict[str, Any]) -> dict[str, Any]:
    return {
        "format": CHECKPOINT_FORMAT,
        "layer_sizes": list(net.layer_sizes),
        "activations": list(net.activations),
        "state": [
            {"weight": lin.weight.detach().clone(), "bias": None if lin.bias is None else lin.bias.detach().clone()}
            for lin in net.linears
        ],
        "meta": meta,
    }


def checkpoint_bytes(net: Network, meta: dict[str, Any]) -> bytes:
    """The checkpoint of ``net`` as bytes, as the stores keep it (see :func:`network_from_bytes`)."""
    buf = io.BytesIO()
    torch.save(_payload(net, meta), buf)
    return buf.getvalue()


def network_from_bytes(data: bytes) -> tuple[Network, dict[str, Any]]:
    """The network of a checkpoint made by :func:`checkpoint_bytes` or :func:`save_checkpoint`,
    read with ``torch.load(weights_only=True)`` (no code can run)."""
    try:
        obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise UnsupportedModelError(
            f"A stored checkpoint could not be read ({type(exc).__name__}); retrain the model or re-import its file."
        ) from exc
    if not (isinstance(obj, dict) and obj.get("format") == CHECKPOINT_FORMAT):
        raise UnsupportedModelError("A stored checkpoint is not a nifgraph checkpoint; retrain or re-import the model.")
    return _from_checkpoint(obj), dict(obj.get("meta", {}))


def save_checkpoint(net: Network, path: str | os.PathLike[str], meta: dict[str, Any]) -> Path:
    """Save a checkpoint file nifgraph can reload (``torch.load(weights_only=True)`` safe)."""
    path = Path(path)
    payload = _payload(net, meta)
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(payload, tmp)
        tmp.replace(path)
    except (OSError, RuntimeError) as exc:  # a full disk shows up as torch's RuntimeError
        reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0][:120]
        raise StoreError(
            f"Cannot write the model checkpoint {path} ({reason}); free some space or choose another path."
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _from_checkpoint(payload: dict[str, Any]) -> Network:
    sizes = payload["layer_sizes"]
    acts = payload["activations"]
    layers: list[nn.Module] = []
    for i, state in enumerate(payload["state"]):
        lin = nn.Linear(sizes[i], sizes[i + 1], bias=state["bias"] is not None)
        with torch.no_grad():
            lin.weight.copy_(state["weight"])
            if state["bias"] is not None:
                lin.bias.copy_(state["bias"])
        layers.append(lin)
        if acts[i] != "identity":
            layers.append(ACTIVATIONS[acts[i]]())
    return from_module(nn.Sequential(*layers).eval())


#: How to save any model nifgraph reads (the fix every refusal of another format names).
_EXPORT_HOWTO = "torch.export.save(torch.export.export(model.eval(), (x,)), 'model.pt2')"


def _load_torchscript(path: Path) -> Any:
    """A TorchScript module if ``path`` is a TorchScript archive (it holds ``code/``), else None."""
    import warnings
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            if not any("/code/" in n for n in zf.namelist()):
                return None
    except (zipfile.BadZipFile, OSError):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return torch.jit.load(str(path), map_location="cpu")
        except Exception as exc:
            raise UnsupportedModelError(f"{path.name} looks like TorchScript but could not be loaded ({exc}).") from exc


_EXPORT_ACTS = {f"aten.{name}.default": name for name in ACTIVATIONS} | {
    f"aten.{name}_.default": name for name in ACTIVATIONS
}
_EXPORT_PASS = {"aten.dropout.default", "aten.clone.default", "aten.alias.default", "aten.detach.default"}
_EXPORT_LAST = {"aten.softmax.int", "aten._softmax.default", "aten.log_softmax.int", "aten._log_softmax.default"}


def _is_exported(path: Path) -> bool:
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            return any(n.endswith("/archive_format") for n in zf.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _from_exported(path: Path) -> tuple[Network, int]:
    """A ``torch.export`` program (``.pt2``) of a chain of Linear layers and element-wise
    activations, rebuilt as an ``nn.Sequential`` from its graph (no pickled code runs), and the
    number of outputs the program returns (the first is read)."""
    from .dag import training_mode_error

    try:
        ep = torch.export.load(str(path))
    except Exception as exc:
        raise UnsupportedModelError(f"{path.name} looks like a torch.export program but could not be loaded ({exc}).") from exc
    params = {**ep.state_dict, **getattr(ep, "constants", {})}
    sig = ep.graph_signature
    lookup = {**sig.inputs_to_parameters, **sig.inputs_to_buffers, **getattr(sig, "inputs_to_lifted_tensor_constants", {})}
    layers: list[nn.Module] = []
    current = None  # the node carrying the activations along the chain
    done = False
    for node in ep.graph.nodes:
        if node.op in ("placeholder", "output"):
            if node.op == "placeholder" and node.name not in lookup:
                current = node if current is None else current
            continue
        refusal = training_mode_error(node)
        if refusal is not None:
            raise refusal
        target = str(node.target)
        where = f"{target} (node {node.name})"
        if node.op != "call_function" or done:
            raise UnsupportedModelError(f"{path.name}: unsupported operation {where}; nifgraph reads chains of Linear layers "
                                        "with element-wise activations.")
        if not node.args or node.args[0] is not current:
            raise UnsupportedModelError(f"{path.name}: operation {where} does not continue the chain of layers; "
                                        "branches and skip connections are not supported yet.")
        if target == "aten.linear.default":
            weight = params[lookup[node.args[1].name]]
            bias = params[lookup[node.args[2].name]] if len(node.args) > 2 and node.args[2] is not None else None
            lin = nn.Linear(int(weight.shape[1]), int(weight.shape[0]), bias=bias is not None)
            with torch.no_grad():
                lin.weight.copy_(weight)
                if bias is not None:
                    lin.bias.copy_(bias)
            layers.append(lin)
        elif target in _EXPORT_ACTS and len(node.args) == 1 and not node.kwargs:
            layers.append(ACTIVATIONS[_EXPORT_ACTS[target]]())
        elif target in _EXPORT_PASS:
            pass
        elif target in _EXPORT_LAST:
            done = True
        else:
            raise UnsupportedModelError(f"{path.name}: unsupported operation {where}; nifgraph reads chains of Linear "
                                        f"layers with element-wise activations ({', '.join(sorted(ACTIVATIONS))}).")
        current = node
    return from_module(nn.Sequential(*layers).eval()), len(sig.user_outputs)


def load_network(path: str | os.PathLike[str], *, trust_pickle: bool = False) -> tuple[Network, dict[str, Any]]:
    """Load a nifgraph checkpoint, a ``torch.export`` program (``.pt2``, the preferred format:
    ``torch.export.save(torch.export.export(model, (x,)), "m.pt2")``), a TorchScript file, or a
    whole ``nn.Sequential`` saved with ``torch.save``. Returns the network and the checkpoint's metadata (``{}`` for user files).

    Files are read with ``torch.load(weights_only=True)``, which refuses to run code. nifgraph's
    own checkpoints and TorchScript always load that way. A whole module saved with
    ``torch.save(model)`` is a Python pickle that can run arbitrary code when loaded: it is
    loaded only with ``trust_pickle=True`` (``--trust-pickle``), for files you trust.
    """
    path = Path(path)
    if path.is_dir():
        raise ValidationError(f"Model file {path} is a folder; pass the saved model file itself.")
    if not path.is_file():
        raise ValidationError(f"Model file {path} does not exist; check the path.")
    if _is_exported(path):
        net, n_outputs = _from_exported(path)
        return net, {"source": "torch.export", "path": str(path), "n_outputs": n_outputs}
    scripted = _load_torchscript(path)
    if scripted is not None:
        return _chain(scripted, path), {"source": "torchscript", "path": str(path)}
    with open(path, "rb") as f:
        head = f.read(2)
    if not (head.startswith(b"PK") or head.startswith(b"\x80")):  # torch.save writes a zip (or, legacy, a pickle)
        raise UnsupportedModelError(
            f"{path.name} is not a PyTorch model file (neither torch.save's zip nor a pickle); pass the saved model: "
            "torch.export.save(torch.export.export(model, (x,)), 'model.pt2')."
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        if "weights only load failed" not in str(exc).lower():
            raise UnsupportedModelError(
                f"{path.name} is not a PyTorch model file nifgraph can read; save the model as a torch.export "
                "program: torch.export.save(torch.export.export(model, (x,)), 'model.pt2') (or TorchScript: "
                "torch.jit.save(torch.jit.script(model), path))."
            ) from exc
        if not trust_pickle:
            raise UnsupportedModelError(
                f"{path.name} is a pickled Python object, which can run code when loaded; load it only if you "
                "trust the file (--trust-model-file), or save it as a torch.export program: "
                "torch.export.save(torch.export.export(model, (x,)), 'model.pt2')."
            ) from None
        try:
            obj = torch.load(path, map_location="cpu", weights_only=False)
        except (AttributeError, ImportError) as exc:  # the pickle names a class this process cannot import
            raise UnsupportedModelError(
                f"{path.name} was saved with torch.save(model) of a class nifgraph cannot import ({first_line(exc, 100)}); "
                f"save it as a torch.export program instead: {_EXPORT_HOWTO}."
            ) from None
    if isinstance(obj, dict) and obj.get("format") == CHECKPOINT_FORMAT:
        return _from_checkpoint(obj), dict(obj.get("meta", {}))
    inner = [k for k, v in obj.items() if isinstance(v, nn.Module)] if isinstance(obj, dict) else []
    if inner:
        raise UnsupportedModelError(
            f"{path.name} holds a dict with a network under {inner[0]!r}; save the network itself: "
            f"torch.save(d[{inner[0]!r}], path), or better a torch.export program (.pt2)."
        )
    if isinstance(obj, dict):
        raise UnsupportedModelError(
            f"{path.name} holds a state_dict (plain dict), not a network; load it into your model and save that as "
            f"a torch.export program: {_EXPORT_HOWTO}."
        )
    if not isinstance(obj, nn.Module):
        raise UnsupportedModelError(
            f"{path.name} holds a {type(obj).__name__}, not a torch.nn.Sequential; save the model itself."
        )
    return _chain(obj.eval(), path), {"source": "torch.save", "path": str(path)}


def _chain(module: nn.Module, path: Path) -> Network:
    """:func:`~nifgraph.network.from_module` for a TorchScript or ``torch.save`` file, whose
    refusal also names the format that reads other models (a CNN, a residual network)."""
    try:
        return from_module(module)
    except UnsupportedModelError as exc:
        raise UnsupportedModelError(
            f"{path.name}: {str(exc).rstrip('.')}. TorchScript and torch.save files are read as nn.Sequential chains "
            f"of Linear layers; save any other model as a torch.export program: {_EXPORT_HOWTO}."
        ) from None

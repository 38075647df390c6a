"""Model files: nifgraph's own checkpoints (weights and block structure, loadable with
``torch.load(weights_only=True)``) and a user's model saved with ``torch.save`` or as
TorchScript, read into a :class:`~nifgraph.network.Network`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import StoreError, UnsupportedModelError, ValidationError
from .network import ACTIVATIONS, Network, from_module

__all__ = ["CHECKPOINT_FORMAT", "save_checkpoint", "load_network"]

CHECKPOINT_FORMAT = "nifgraph-mlp/1"


def save_checkpoint(net: Network, path: str | os.PathLike[str], meta: dict[str, Any]) -> Path:
    """Save a checkpoint nifgraph can reload (``torch.load(weights_only=True)`` safe)."""
    path = Path(path)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "layer_sizes": list(net.layer_sizes),
        "activations": list(net.activations),
        "state": [
            {"weight": lin.weight.detach().clone(), "bias": None if lin.bias is None else lin.bias.detach().clone()}
            for lin in net.linears
        ],
        "meta": meta,
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(payload, tmp)
        tmp.replace(path)
    except (OSError, RuntimeError) as exc:  # a full disk shows up as torch's RuntimeError
        reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0][:120]
        raise StoreError(
            f"Cannot write the model checkpoint {path} ({reason}); free some space, or put checkpoints "
            "elsewhere with NIFGRAPH_MODELS."
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


def load_network(path: str | os.PathLike[str], *, trust_pickle: bool = False) -> tuple[Network, dict[str, Any]]:
    """Load a nifgraph checkpoint, a TorchScript file, or a whole ``nn.Sequential`` saved with
    ``torch.save``. Returns the network and the checkpoint's metadata (``{}`` for user files).

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
    scripted = _load_torchscript(path)
    if scripted is not None:
        return from_module(scripted), {"source": "torchscript", "path": str(path)}
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        if "weights only load failed" not in str(exc).lower():
            raise UnsupportedModelError(
                f"{path.name} is not a PyTorch file nifgraph can read ({type(exc).__name__}); save the model "
                "with torch.save(model, path) or torch.jit.save(torch.jit.script(model), path)."
            ) from exc
        if not trust_pickle:
            raise UnsupportedModelError(
                f"{path.name} is a pickled Python object, which can run code when loaded; load it only if you "
                "trust the file (--trust-pickle), or save the model as TorchScript: "
                "torch.jit.save(torch.jit.script(model), path)."
            ) from None
        obj = torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(obj, dict) and obj.get("format") == CHECKPOINT_FORMAT:
        return _from_checkpoint(obj), dict(obj.get("meta", {}))
    if isinstance(obj, dict):
        raise UnsupportedModelError(
            f"{path.name} holds a state_dict (plain dict), not a network; save the whole nn.Sequential with "
            "torch.save(model, path)."
        )
    if not isinstance(obj, nn.Module):
        raise UnsupportedModelError(
            f"{path.name} holds a {type(obj).__name__}, not a torch.nn.Sequential; save the model itself."
        )
    return from_module(obj.eval()), {"source": "torch.save", "path": str(path)}

"""A stored model brought back to life: its network (from the checkpoint) and the exact data
split it was trained and evaluated on. The one place that goes from a
:class:`~nifgraph.records.ModelRecord` back to arrays."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .data import Dataset, load_dataset
from .errors import ValidationError
from .records import ModelRecord

if TYPE_CHECKING:  # pragma: no cover
    from .network import Network

__all__ = ["model_dataset", "load_model_network", "save_pruned"]


def model_dataset(model: ModelRecord) -> Dataset:
    """Reload the exact data split a stored model was trained and evaluated on."""
    spec = model.meta.get("dataset")
    if not spec:
        raise ValidationError(f"Model {model.model_id} records no data set; re-import it with --dataset.")
    return load_dataset(
        None if spec.get("csv") else spec["name"],
        csv=spec.get("csv"),
        target=spec.get("target"),
        seed=int(spec.get("seed", 0)),
        test_size=float(spec.get("test_size", 0.3)),
        standardize=bool(spec.get("standardize", True)),
    )


def load_model_network(model: ModelRecord, store: Any) -> Network:
    """The stored model's network, from the checkpoint ``store`` keeps with it (see
    :meth:`nifgraph.store.base.Store.checkpoint_of`)."""
    from .checkpoint import network_from_bytes

    data = store.checkpoint_of(model)
    if data is None:
        raise ValidationError(
            f"The checkpoint of model {model.model_id} is not in store {store.uri} "
            f"(recorded: {model.meta.get('checkpoint')}); retrain it or re-import the model file."
        )
    if model.is_dag:  # a CNN / residual model: its torch.export program
        from .dag import read_program_bytes

        return read_program_bytes(data, tuple(int(d) for d in model.meta["dag"]["input_shape"]))  # type: ignore[return-value]
    net, _ = network_from_bytes(data)
    return net


def check_save_path(path: str) -> Any:
    """``path`` as a :class:`~pathlib.Path` a file can be written to, or a one-line error."""
    from pathlib import Path

    target = Path(path)
    if target.is_dir() or not target.parent.is_dir():
        raise ValidationError(f"Cannot write {target}: give a file path in an existing folder, e.g. pruned.pt2.")
    return target


def save_pruned(store: Any, model: ModelRecord, analysis: Any, path: str) -> dict[str, Any]:
    """Write the recommended pruning of ``analysis`` as a smaller network, a ``torch.export``
    program at ``path`` (load it with ``torch.export.load(path).module()``).

    The network is :func:`~nifgraph.network.shrunk` with the training-split means the
    verification used, and it is written only if it reproduces the verified held-out accuracy
    and the pruned network's predictions on every held-out sample; the file is written whole or
    not at all. Chain (MLP) models only. Returns what was written: the path, both
    architectures, every removed unit with the constant folded in for it, the accuracy."""
    import os
    import tempfile

    import numpy as np
    import torch

    from .analysis.removal import replacement_values
    from .network import accuracy, pruned, shrunk

    if model.is_dag:
        raise ValidationError(
            f"Model {model.model_id} is a DAG model: its units are removed inside its traced graph, which "
            "--save cannot write out yet; use the recommendation (prune --json) with the model itself."
        )
    units = analysis.prunable
    if not units:
        raise ValidationError(f"Run {analysis.run_id} recommends no unit for removal; there is nothing to save.")
    target = check_save_path(path)
    net = load_model_network(model, store)
    ds = model_dataset(model)
    means = replacement_values(net, ds.x_train, "mean")
    small = shrunk(net, units, means)
    acc = accuracy(small, ds.x_test, ds.y_test)
    same = np.array_equal(small.predict(ds.x_test), pruned(net, units, means=means).predict(ds.x_test))
    if not same or abs(acc - float(analysis.accuracy_after)) > 1e-12:
        raise ValidationError(  # pragma: no cover - a model changed under its analysis
            f"The smaller network gives held-out accuracy {acc:.4f}, not the verified {analysis.accuracy_after:.4f}; "
            f"nothing was saved. Re-run `nifgraph prune {model.model_id}`."
        )
    x = torch.as_tensor(np.asarray(ds.x_test[:2]), dtype=torch.float32)
    program = torch.export.export(small.module, (x,), dynamic_shapes=({0: torch.export.Dim.AUTO},))
    fd, tmp = tempfile.mkstemp(prefix=".pruned-", suffix=".pt2", dir=str(target.parent))
    os.close(fd)
    try:
        torch.export.save(program, tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return {
        "path": str(target), "model_id": model.model_id, "run_id": analysis.run_id,
        "architecture_before": "-".join(map(str, net.layer_sizes)),
        "architecture_after": "-".join(map(str, small.layer_sizes)),
        "removed": [{"layer": la, "idx": i, "folded_constant": float(means[la][i])} for la, i in units],
        "accuracy_before": float(analysis.accuracy_before), "accuracy_after": acc,
        "inputs": "(x - input_mean) / input_scale, the training split's statistics" if ds.standardized else "raw features",
        "input_mean": np.asarray(ds.mean, dtype=float).tolist(), "input_scale": np.asarray(ds.scale, dtype=float).tolist(),
    }

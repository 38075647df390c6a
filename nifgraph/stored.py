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

__all__ = ["model_dataset", "load_model_network"]


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


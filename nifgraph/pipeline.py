"""The main job, step by step: train (or import) → record activations → estimate NIF →
store → analyse → verify pruning. Each step is a function over a :class:`Store` that takes
its stage's settings object whole (:mod:`nifgraph.settings`); the CLI builds them, calls these
and renders. :func:`run_main_job` keeps the trained network and the data in memory from one
step to the next. Progress is reported through callbacks ``progress(done, total)``, with
``progress(0, total)`` when a step starts (``total`` 0 when its size is not known yet), so that a
bar's clock times its own step; nothing here prints.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import faults
from .analysis import analyze_run
from .data import Dataset
from .errors import ValidationError, first_line
from .records import (
    AnalysisRecord,
    ModelRecord,
    RunRecord,
    check_model_name,
    default_model_name,
    new_id,
    not_for_dag,
)
from .settings import AnalysisSettings, EstimationSettings
from .store.base import ModelParts, RunWriter, Store

if TYPE_CHECKING:  # pragma: no cover
    from .network import Network, TrainConfig

__all__ = [
    "train_model",
    "import_model",
    "estimate_run",
    "analyze_run",
    "run_main_job",
    "MainJobResult",
]

ProgressFn = Callable[[int, int], None]


def _dataset_spec(ds: Dataset, csv: str | None, target: str | None) -> dict[str, Any]:
    # an absolute path, so that later commands run from another folder find the file again
    csv_path = str(Path(csv).resolve()) if csv else None
    return {
        "name": ds.name, "csv": csv_path, "target": target, "seed": ds.seed, "test_size": ds.test_size,
        # what the model sees: the scaler is kept with the model (a reload recomputes the same)
        "standardize": ds.standardized, "scaler": {"mean": ds.mean.tolist(), "scale": ds.scale.tolist()},
    }


def _neuron_frame(model_id: str, net, ds: Dataset, acts: list[np.ndarray]) -> pd.DataFrame:
    from .network import neuron_summaries

    summ = neuron_summaries(acts)
    rows = []
    last = len(acts) - 1
    for layer, s in enumerate(summ):
        n = acts[layer].shape[1]
        role = "input" if layer == 0 else "output" if layer == last else "hidden"
        if role == "input":
            names = list(ds.feature_names)
            act = "identity"
        elif role == "output":
            names = list(ds.class_names)
            act = net.activations[-1]
        else:
            names = [f"h{layer}_{i}" for i in range(n)]
            act = net.activations[layer - 1]
        rows.append(
            pd.DataFrame(
                {
                    "model_id": model_id,
                    "layer": layer,
                    "idx": np.arange(n),
                    "role": role,
                    "name": names,
                    "activation": act,
                    "mean": s["mean"],
                    "std": s["std"],
                    "zero_frac": s["zero_frac"],
                    "dead": s["dead"] & (role == "hidden"),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def _model_parts(
    net, ds: Dataset, *, name: str, meta: dict[str, Any], train_acc: float, test_acc: float
) -> tuple[ModelRecord, pd.DataFrame, bytes]:
    """The model record, its neuron table and its checkpoint bytes, ready to store."""
    from .checkpoint import checkpoint_bytes

    model_id = new_id("m")
    meta = dict(meta, checkpoint="in store")
    acts = net.forward_layers(ds.split("all")[0])
    model = ModelRecord(
        model_id=model_id,
        name=name,
        dataset=ds.name,
        layer_sizes=net.layer_sizes,
        activations=net.activations,
        feature_names=ds.feature_names,
        class_names=ds.class_names,
        test_accuracy=test_acc,
        train_accuracy=train_acc,
        meta=meta,
    )
    return model, _neuron_frame(model_id, net, ds, acts), checkpoint_bytes(net, meta)


def _store_model(
    store: Store, net, ds: Dataset, *, name: str, meta: dict[str, Any], train_acc: float, test_acc: float
) -> ModelRecord:
    model, neurons, ckpt = _model_parts(net, ds, name=name, meta=meta, train_acc=train_acc, test_acc=test_acc)
    store.put_model(model, neurons, ckpt)  # the checkpoint lives inside the store
    return model


def _fit(
    ds: Dataset, config: Any, *, name: str | None, csv: str | None, target: str | None, progress: ProgressFn | None
) -> tuple[tuple[ModelRecord, pd.DataFrame, bytes], Any]:
    """Train an MLP (or a CNN / ResNet, ``config.arch``) on ``ds``: the model's parts (see
    :func:`_model_parts`) and the result."""
    from .network import TrainConfig, train_mlp

    check_model_name(name)
    config = config or TrainConfig()
    if config.arch != "mlp":
        return _fit_convnet(ds, config, name=name, csv=csv, target=target, progress=progress)
    if progress is not None:
        progress(0, config.epochs)  # the phase starts: its clock starts here
    res = train_mlp(
        ds.x_train, ds.y_train, ds.x_test, ds.y_test, config, n_classes=ds.n_classes, progress=progress
    )
    arch = "-".join(str(s) for s in res.network.layer_sizes)
    meta = {
        "source": "nifgraph train",
        "dataset": _dataset_spec(ds, csv, target),
        "train": {
            "hidden": list(config.hidden),
            "activation": config.activation,
            "dropout": config.dropout,
            "epochs": config.epochs,
            "lr": config.lr,
            "batch_size": config.batch_size,
            "weight_decay": config.weight_decay,
            "seed": config.seed,
            "optimizer": "adam",
            "final_loss": res.losses[-1],
            "elapsed_s": res.elapsed_s,
        },
    }
    parts = _model_parts(
        res.network, ds, name=name or f"{ds.name}-{arch}-{config.activation}-s{config.seed}",
        meta=meta, train_acc=res.train_accuracy, test_acc=res.test_accuracy,
    )
    return parts, res


def train_model(
    store: Store,
    ds: Dataset,
    config: Any = None,
    *,
    name: str | None = None,
    csv: str | None = None,
    target: str | None = None,
    progress: ProgressFn | None = None,
) -> tuple[ModelRecord, Any]:
    """Train an MLP on ``ds`` and store the model with its checkpoint."""
    parts, res = _fit(ds, config, name=name, csv=csv, target=target, progress=progress)
    store.put_model(*parts)
    return parts[0], res


def import_model(
    store: Store,
    path: str,
    ds: Dataset,
    *,
    name: str | None = None,
    csv: str | None = None,
    target: str | None = None,
    trust_pickle: bool = False,
    input_shape: tuple[int, ...] | None = None,
) -> ModelRecord:
    """Store a user's trained ``nn.Sequential`` (TorchScript, or ``torch.save`` with
    ``trust_pickle``: see :func:`nifgraph.checkpoint.load_network`) evaluated on ``ds``.

    A ``torch.export`` program (``.pt2``) that is not a chain of Linear layers -- a CNN, a
    residual network -- or any ``.pt2`` given ``input_shape`` (one sample's shape, e.g.
    ``(1, 8, 8)``) is stored as a DAG of layers (:mod:`nifgraph.dag`)."""
    from .checkpoint import _is_exported, load_network
    from .errors import UnsupportedModelError
    from .network import accuracy

    check_model_name(name)
    if input_shape is not None or _is_exported(Path(path)):
        if input_shape is not None and not _is_exported(Path(path)):
            raise ValidationError(
                f"--input-shape needs a torch.export program (.pt2); save the model with "
                f"torch.export.save(torch.export.export(model, (x,)), 'model.pt2') (got {Path(path).name})."
            )
        if input_shape is None:
            try:
                net, _ = load_network(path)
            except UnsupportedModelError:
                return _import_dag(store, path, ds, name=name, csv=csv, target=target, input_shape=None)
        else:
            return _import_dag(store, path, ds, name=name, csv=csv, target=target, input_shape=input_shape)
    net, info = load_network(path, trust_pickle=trust_pickle)
    _need_hidden(net.layer_sizes)
    if net.n_inputs != ds.n_features:
        raise ValidationError(
            f"The model takes {net.n_inputs} input features but data set {ds.name!r} has {ds.n_features}; "
            "pass the data set it was trained on."
        )
    if net.n_outputs != ds.n_classes:
        raise ValidationError(
            f"The model has {net.n_outputs} outputs but data set {ds.name!r} has {ds.n_classes} classes"
            + _one_logit_hint(net.n_outputs, ds.n_classes)
        )
    test_acc = accuracy(net, ds.x_test, ds.y_test)
    meta = {
        "source": "import", "original_path": str(Path(path).resolve()), "dataset": _dataset_spec(ds, csv, target),
        "notes": _outputs_notes(int(info.get("n_outputs", 1))) + _preprocessing_notes(net, ds, test_acc),
    }
    return _store_model(
        store, net, ds, name=name or default_model_name(Path(path).stem), meta=meta,
        train_acc=accuracy(net, ds.x_train, ds.y_train), test_acc=test_acc,
    )


def _fit_convnet(
    ds: Dataset, config: Any, *, name: str | None, csv: str | None, target: str | None, progress: ProgressFn | None
) -> tuple[tuple[ModelRecord, pd.DataFrame, bytes], Any]:
    from .convnets import build_convnet, train_convnet

    shape = ds.image_shape
    if shape is None:
        raise ValidationError(
            f"--arch {config.arch} needs image data; data set {ds.name!r} has no image shape: use --dataset digits "
            "(1×8×8), or --arch mlp."
        )
    build_convnet(config.arch, shape, ds.n_classes, tuple(config.hidden), config.activation, config.dropout)  # checks
    res = train_convnet(ds.x_train, ds.y_train, ds.x_test, ds.y_test, config, shape, ds.n_classes, progress)
    meta = {
        "source": "nifgraph train", "dataset": _dataset_spec(ds, csv, target),
        "train": {
            "arch": config.arch, "hidden": list(config.hidden), "activation": config.activation,
            "dropout": config.dropout, "epochs": config.epochs, "lr": config.lr, "batch_size": config.batch_size,
            "weight_decay": config.weight_decay, "seed": config.seed, "optimizer": "adam",
            "final_loss": res.losses[-1] if res.losses else float("nan"), "elapsed_s": res.elapsed_s,
        },
    }
    arch = "-".join(str(c) for c in config.hidden)
    parts = _dag_parts(res.network, ds, name=name or f"{ds.name}-{config.arch}-{arch}-s{config.seed}", meta=meta,
                       train_acc=res.train_accuracy, test_acc=res.test_accuracy)
    return parts, res


def _dag_parts(
    dag: Any, ds: Dataset, *, name: str, meta: dict[str, Any], train_acc: float, test_acc: float
) -> tuple[ModelRecord, pd.DataFrame, bytes]:
    """A DAG model's record, neuron table and checkpoint (its torch.export program)."""
    from .dag import dag_meta

    model_id = new_id("m")
    meta = dict(meta, checkpoint="in store", checkpoint_format="torch.export", dag=dag_meta(dag))
    acts = dag.forward_layers(ds.split("all")[0])
    model = ModelRecord(
        model_id=model_id, name=name, dataset=ds.name, layer_sizes=dag.layer_sizes, activations=dag.activations,
        feature_names=ds.feature_names, class_names=ds.class_names, test_accuracy=test_acc,
        train_accuracy=train_acc, meta=meta,
    )
    names = [f"{la.name}_{i}" for la in dag.layers for i in range(la.n_units)]
    neurons = _neuron_frame(model_id, dag, ds, acts)
    hidden = neurons["role"] == "hidden"
    neurons.loc[hidden, "name"] = [nm for nm, h in zip(names, hidden, strict=True) if h]
    return model, neurons, dag.program_bytes()


def _import_dag(
    store: Store, path: str, ds: Dataset, *, name: str | None, csv: str | None, target: str | None,
    input_shape: tuple[int, ...] | None,
) -> ModelRecord:
    """Store a torch.export program as a DAG model (its program bytes are its checkpoint)."""
    import torch

    from .dag import read_module

    try:
        ep = torch.export.load(str(path))
    except Exception as exc:
        raise ValidationError(f"{Path(path).name} could not be read as a torch.export program ({type(exc).__name__}).") from exc
    val = next((n.meta.get("val") for n in ep.graph.nodes if n.name in set(ep.graph_signature.user_inputs)), None)
    exported = _static_sample_shape(val)
    given = input_shape is not None
    if input_shape is None:
        input_shape = exported if exported is not None else (ds.image_shape or (ds.n_features,))
    if int(np.prod(input_shape)) != ds.n_features:
        raise ValidationError(
            f"The model reads samples of shape {tuple(input_shape)} ({int(np.prod(input_shape))} values) but data set "
            f"{ds.name!r} has {ds.n_features} features; pass --input-shape with the shape of one sample (e.g. 1,8,8 for digits)."
        )
    if given and exported is not None and tuple(input_shape) != exported:  # a reshape to it would run, meaninglessly
        raise ValidationError(
            f"--input-shape {','.join(map(str, input_shape))} differs from the shape the program was exported with, "
            f"{','.join(map(str, exported))}; omit --input-shape (or export the model for that shape)."
        )
    image = ds.image_shape
    if given and exported is None and image is not None and len(input_shape) > 1 and _squeezed(input_shape) != _squeezed(image):
        raise ValidationError(  # a program of free spatial size would run on the rearranged pixels, meaninglessly
            f"--input-shape {','.join(map(str, input_shape))} rearranges {ds.name!r}'s {'×'.join(map(str, image))} images; "
            f"pass --input-shape {','.join(map(str, image))} (or omit it)."
        )
    dag = read_module(ep, torch.zeros(1, *input_shape))
    _need_hidden(dag.layer_sizes)
    if dag.n_outputs != ds.n_classes:
        raise ValidationError(f"The model has {dag.n_outputs} outputs but data set {ds.name!r} has {ds.n_classes} classes"
                              + _one_logit_hint(dag.n_outputs, ds.n_classes))
    outputs = len(ep.graph_signature.user_outputs)
    meta = {
        "source": "import", "original_path": str(Path(path).resolve()), "dataset": _dataset_spec(ds, csv, target),
        "notes": _outputs_notes(outputs),
    }
    try:
        train_acc, test_acc = dag.accuracy(ds.x_train, ds.y_train), dag.accuracy(ds.x_test, ds.y_test)
    except RuntimeError as exc:  # torch: the samples do not fit the program's layers
        raise ValidationError(
            f"The model cannot run on samples of shape {tuple(input_shape)} ({first_line(exc, 160)}); pass --input-shape with the "
            "shape it was written for (e.g. 1,8,8 for digits images, 13 for wine's features)."
        ) from None
    parts = _dag_parts(dag, ds, name=name or default_model_name(Path(path).stem), meta=meta, train_acc=train_acc, test_acc=test_acc)
    store.put_model(*parts)
    return parts[0]


def _outputs_notes(n_outputs: int) -> list[str]:
    """The note for a program that returns several tensors (logits and probabilities, say)."""
    if n_outputs <= 1:
        return []
    return [f"The model returns {n_outputs} outputs; nifgraph reads the first as its logits (one per class)."]


def _need_hidden(sizes: tuple[int, ...]) -> None:
    """Refuse a model without a hidden layer: every analysis is of flow through hidden units."""
    if len(sizes) < 3:
        raise ValidationError(
            f"The model has no hidden layer ({'-'.join(map(str, sizes))}): nifgraph measures information flowing through "
            "hidden units (pruning, centrality, communities); import a model with at least one hidden layer."
        )


def _one_logit_hint(n_outputs: int, n_classes: int) -> str:
    """The fix for a class-count mismatch; a one-logit binary head gets its own."""
    if n_outputs == 1 and n_classes == 2:
        return ("; nifgraph reads one output per class: give the binary head two logits, a final Linear with "
                "rows -w/2 and w/2 and biases -b/2 and b/2 (the same probabilities as sigmoid(w·h + b)).")
    return "; export a model with one output per class of the data set, or choose the data set it was trained on."


def _squeezed(shape: tuple[int, ...]) -> tuple[int, ...]:
    """``shape`` without its dimensions of size 1 (``(1, 8, 8)`` and ``(8, 8)`` order pixels alike)."""
    return tuple(int(d) for d in shape if int(d) != 1)


def _static_sample_shape(val: Any) -> tuple[int, ...] | None:
    """One sample's shape as exported (None where a sample dimension is symbolic)."""
    if val is None or not hasattr(val, "shape"):
        return None
    dims = tuple(val.shape[1:])
    return dims if all(isinstance(d, int) for d in dims) else None


#: Why two estimation options stay chain-only (the message names what works instead).
DAG_REFUSALS = {
    "beta": ("the redundancy term (--beta) is", "it sums I(X_i; X_j) over the inputs j < i of one source layer, and a "
             "DAG unit reads several layers at once (skip paths) whose units have no order between them", "drop --beta"),
    "variant": ("the joint variant (--variant layer) is", "its relevance I(X; Q_k) is a joint MI over the one layer "
                "that feeds Q_k, and a DAG unit can read several",
                "use --variant pairwise (with --null for significance)"),
}


def _estimate_dag(
    model: ModelRecord, dag: Any, x: np.ndarray, settings: EstimationSettings, progress: ProgressFn | None
) -> Any:
    """NIF on every edge of every joined layer pair of a DAG model, with the significance
    columns when asked (the same null, q-values and intervals as a chain's)."""
    from .analysis.dag_flow import estimate_dag

    for key, active in (("beta", bool(settings.beta)), ("variant", settings.variant != "pairwise")):
        if active:
            what, why, instead = DAG_REFUSALS[key]
            raise not_for_dag(model, what, instead, why=why)
    return estimate_dag(dag, x, estimator=settings.estimator, seed=settings.seed, progress=progress,
                        significance=settings.significance, screen=settings.screen, screen_alpha=settings.screen_alpha,
                        conv_samples=settings.conv_samples, max_positions=settings.max_positions,
                        workers=settings.workers, device=settings.device, ray=settings.ray, **settings.options)


def _write_dag_edges(writer: RunWriter, nif: Any) -> None:
    """A DAG run's edges, pair by pair in slices (:func:`nifgraph.nif.pair_edges`): relevance is
    the value, no redundancy term."""
    from .nif import pair_edges

    for (a, b), v in nif.blocks.items():
        mats = {"value": v, **{col: blocks[(a, b)] for col, blocks in nif.extras.items()}}
        for part in pair_edges(a, b, mats, writer.run.run_id):
            writer.add(part)


def _estimate_dag_run(
    store: Store, model: ModelRecord, dag: Any, ds: Dataset, settings: EstimationSettings,
    progress: ProgressFn | None, model_parts: ModelParts | None,
) -> tuple[RunRecord, Any]:
    """Estimate a DAG model's run, then store it through one run writer, pair by pair in slices
    (its significance and settings are known once every pair is estimated)."""
    from . import mi

    x, _ = ds.split(settings.split)
    if progress is not None:
        progress(0, 0)
    run_id = new_id("r")
    t0 = time.perf_counter()
    nif = _estimate_dag(model, dag, x, settings, progress)
    run_settings: dict[str, Any] = {**mi.describe(settings.estimator), **settings.options, "dag": True,
                                    **nif.samples_settings()}
    if nif.significance:
        run_settings["significance"] = nif.significance
    if settings.screen:
        n_out = int(sum(m.sum() for m in nif.extras["screened"].values()))
        run_settings["screen"] = {"method": settings.screen, "alpha": float(settings.screen_alpha),
                                  "edges": nif.n_edges, "screened_out": n_out, "candidates": nif.n_edges - n_out}
    warning = sample_size_warning(int(x.shape[0]), tuple(model.layer_sizes))
    if warning:
        run_settings["warnings"] = [warning]
    run = RunRecord(
        run_id=run_id, model_id=model.model_id, estimator=settings.estimator, seed=settings.seed,
        split=settings.split, n_samples=int(x.shape[0]), beta=settings.beta, variant=settings.variant,
        settings=run_settings, elapsed_s=time.perf_counter() - t0,
    )
    with store.run_writer(run, model_parts=model_parts) as writer:
        _write_dag_edges(writer, nif)
    return run, None


def _preprocessing_notes(net: Network, ds: Dataset, test_acc: float, margin: float = 0.05) -> list[str]:
    """A note when the imported model does clearly better on the other preprocessing (raw vs
    standardised inputs): it was then probably trained on that one."""
    from .network import accuracy

    if ds.standardized:
        other, flag, seen = ds.x_test * ds.scale + ds.mean, "--no-standardize", "standardised"
    else:
        mean, scale = ds.x_train.mean(axis=0), ds.x_train.std(axis=0)
        other, flag, seen = (ds.x_test - mean) / np.where(scale > 0, scale, 1.0), "--standardize", "raw"
    other_acc = accuracy(net, other.astype(np.float32), ds.y_test)
    if other_acc >= test_acc + margin:
        return [
            f"The model scores {test_acc:.3f} on {seen} inputs but {other_acc:.3f} on the other preprocessing: "
            f"it was probably trained that way; re-import with {flag}."
        ]
    return []


def estimate_run(
    store: Store,
    model_id: str,
    settings: EstimationSettings | None = None,
    *,
    progress: ProgressFn | None = None,
    network: Network | None = None,
    dataset: Dataset | None = None,
) -> tuple[RunRecord, Any]:
    """Estimate the NIF of every edge of a stored model on a data split and store the run.

    The run is streamed into the store: each layer pair's edges are written, in slices of at
    most :data:`nifgraph.nif.SLICE_ROWS`, as soon as the pair's values are final, and the run
    becomes visible, whole, when the last one is written (:meth:`Store.run_writer`); a failure
    leaves nothing of it.

    ``settings.split="all"`` (default) uses train and test samples together: NIF describes
    what the network does to the data, and MI estimates need every sample they can get (Iris
    has 150). Significance settings give per-edge p-/q-values and intervals
    (:mod:`nifgraph.significance`), recorded under ``run.settings["significance"]``.
    ``network``/``dataset``: the model's, when the caller has them in hand.
    """
    from .stored import load_model_network, model_dataset

    settings = (settings or EstimationSettings()).validate()
    model = store.get_model(model_id)
    net = network if network is not None else load_model_network(model, store)
    ds = dataset if dataset is not None else model_dataset(model)
    return _estimate(store, model, net, ds, settings, progress)


#: Fewer samples than this (or than input features) get a warning with the run.
MIN_SAMPLES = 100


def sample_size_warning(n_samples: int, layer_sizes: tuple[int, ...]) -> str | None:
    """A warning when ``n_samples`` cannot support one MI estimate per edge: fewer than
    :data:`MIN_SAMPLES`, or fewer samples than input features (wide data)."""
    n_edges = sum(a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))  # noqa: B905 - equal lengths
    if n_samples >= MIN_SAMPLES and n_samples >= layer_sizes[0]:
        return None
    return (
        f"Only {n_samples} samples for {layer_sizes[0]} input features and {n_edges:,} edges: MI estimates this "
        "small are mostly noise; test them with --null, or use more samples (or fewer features)."
    )


def _estimate(
    store: Store, model: ModelRecord, net: Network, ds: Dataset, settings: EstimationSettings,
    progress: ProgressFn | None, model_parts: ModelParts | None = None,
) -> tuple[RunRecord, Any]:
    """Estimate one run and stream its edges into ``store`` as each layer pair is final (with
    ``model_parts``: the model and the run as one unit). Returns the run record and the NIF result."""
    from . import mi
    from .network import estimation_activations
    from .nif import estimate_nif, pair_edges

    if model.is_dag:  # a CNN / residual model: NIF per joined layer pair
        return _estimate_dag_run(store, model, net, ds, settings, progress, model_parts)
    if settings.conv_samples != "mean":
        raise ValidationError(f"--conv-samples {settings.conv_samples} is for models with conv layers; {model.model_id} is a chain of Linear layers.")

    x, _ = ds.split(settings.split)
    with estimation_activations(net, x) as acts:  # float32; memory-mapped when large
        run = RunRecord(
            run_id=new_id("r"), model_id=model.model_id, estimator=settings.estimator, seed=settings.seed,
            split=settings.split, n_samples=int(x.shape[0]), beta=settings.beta, variant=settings.variant,
        )  # its settings and timing are set once the estimate is done
        if progress is not None:
            progress(0, 0)  # the phase starts (its size is not known yet): its clock starts here
        with store.run_writer(run, model_parts=model_parts) as writer:
            writing = 0.0  # seconds spent writing edges, not estimating

            def write_pair(layer: int, matrices: dict[str, np.ndarray]) -> None:
                nonlocal writing
                t = time.perf_counter()
                for part in pair_edges(layer, layer + 1, matrices, run.run_id):
                    writer.add(part)
                writing += time.perf_counter() - t

            t0 = time.perf_counter()
            nif = estimate_nif(
                acts, estimator=settings.estimator, beta=settings.beta, variant=settings.variant, seed=settings.seed,
                progress=progress, significance=settings.significance, workers=settings.workers,
                device=settings.device, ray=settings.ray, screen=settings.screen, screen_alpha=settings.screen_alpha,
                on_pair=write_pair, **settings.options,
            )
            elapsed = time.perf_counter() - t0 - writing
            run_settings = {**mi.describe(settings.estimator), **settings.options, "device": nif.device}
            if nif.significance:
                run_settings["significance"] = nif.significance
            if nif.screen:
                run_settings["screen"] = nif.screen
            warning = sample_size_warning(int(x.shape[0]), net.layer_sizes)
            if warning:
                run_settings["warnings"] = [warning]
            run = dataclasses.replace(run, settings=run_settings, elapsed_s=elapsed)
            writer.set_run(run)
        return run, nif


@dataclass
class MainJobResult:
    model: ModelRecord
    run: RunRecord
    analysis: AnalysisRecord
    timings: dict[str, float] = field(default_factory=dict)


def run_main_job(
    store: Store,
    ds: Dataset,
    train_config: TrainConfig | None = None,
    estimation: EstimationSettings | None = None,
    analysis: AnalysisSettings | None = None,
    *,
    name: str | None = None,
    csv: str | None = None,
    target: str | None = None,
    on_train: ProgressFn | None = None,
    on_estimate: ProgressFn | None = None,
) -> MainJobResult:
    """Train → estimate → analyse → verify pruning, everything stored; the trained network and
    the data stay in memory throughout. Every setting is validated before any work is done."""
    from .config import mmap_above_mib

    estimation = (estimation or EstimationSettings()).validate()
    analysis = (analysis or AnalysisSettings(seed=estimation.seed)).validate()
    mmap_above_mib()  # NIFGRAPH_MMAP_MIB, read again by the estimate: a bad value fails before training
    timings: dict[str, float] = {}
    t = time.perf_counter()
    parts, trained = _fit(ds, train_config, name=name, csv=csv, target=target, progress=faults.wrap("train", on_train))
    model = parts[0]
    timings["train_s"] = time.perf_counter() - t
    t = time.perf_counter()
    # model and run are stored together, the run's edges as they are estimated: a job killed
    # before the run is complete leaves nothing behind
    run, _ = _estimate(store, model, trained.network, ds, estimation, faults.wrap("estimate", on_estimate),
                       model_parts=parts)
    timings["estimate_s"] = time.perf_counter() - t
    t = time.perf_counter()
    record = analyze_run(store, run.run_id, analysis, network=trained.network, dataset=ds)
    timings["analyze_s"] = time.perf_counter() - t
    return MainJobResult(model=model, run=run, analysis=record, timings=timings)

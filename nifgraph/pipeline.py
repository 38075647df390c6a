"""The main job, step by step: train (or import) → record activations → estimate NIF →
analyse → verify pruning → store. Each step is a function over a :class:`Store`; the CLI
calls them and renders. Progress is reported through callbacks ``progress(done, total)``;
nothing here prints.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import models_dir
from .data import Dataset, load_dataset
from .errors import ValidationError
from .records import AnalysisRecord, ModelRecord, RunRecord, new_id
from .store.base import Store

__all__ = [
    "DEFAULT_THRESHOLD",
    "train_model",
    "import_model",
    "load_model_network",
    "model_dataset",
    "estimate_run",
    "analyze_run",
    "verify_pruning",
    "run_main_job",
    "MainJobResult",
]

ProgressFn = Callable[[int, int], None]
#: Default NIF threshold (nats) under which a hidden neuron's in- or out-flow counts as none.
DEFAULT_THRESHOLD = 0.02



def _dataset_spec(ds: Dataset, csv: str | None, target: str | None) -> dict[str, Any]:
    # an absolute path, so that later commands run from another folder find the file again
    csv_path = str(Path(csv).resolve()) if csv else None
    return {"name": ds.name, "csv": csv_path, "target": target, "seed": ds.seed, "test_size": ds.test_size}


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
    )


def load_model_network(model: ModelRecord):
    from .network import load_network

    ckpt = model.meta.get("checkpoint")
    if not ckpt or not Path(ckpt).is_file():
        raise ValidationError(
            f"The checkpoint of model {model.model_id} is missing ({ckpt}); retrain it or re-import the model file."
        )
    net, _ = load_network(ckpt)
    return net


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


def _store_model(
    store: Store, net, ds: Dataset, *, name: str, meta: dict[str, Any], train_acc: float, test_acc: float
) -> ModelRecord:
    from .network import save_checkpoint

    model_id = new_id("m")
    ckpt = models_dir(store.uri) / f"{model_id}.pt"
    meta = dict(meta, checkpoint=str(ckpt.resolve()))
    save_checkpoint(net, ckpt, meta)
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
    try:
        store.put_model(model, _neuron_frame(model_id, net, ds, acts))
    except BaseException:
        ckpt.unlink(missing_ok=True)
        raise
    return model


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
    """Train an MLP on ``ds``, save its checkpoint next to the store, store the model."""
    from .network import TrainConfig, train_mlp

    config = config or TrainConfig()
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
    model = _store_model(
        store, res.network, ds, name=name or f"{ds.name}-{arch}-{config.activation}-s{config.seed}",
        meta=meta, train_acc=res.train_accuracy, test_acc=res.test_accuracy,
    )
    return model, res


def import_model(
    store: Store,
    path: str,
    ds: Dataset,
    *,
    name: str | None = None,
    csv: str | None = None,
    target: str | None = None,
) -> ModelRecord:
    """Store a user's trained ``nn.Sequential`` (torch.save or TorchScript) evaluated on ``ds``."""
    from .network import accuracy, load_network

    net, _ = load_network(path)
    if net.n_inputs != ds.n_features:
        raise ValidationError(
            f"The model takes {net.n_inputs} input features but data set {ds.name!r} has {ds.n_features}; "
            "pass the data set it was trained on."
        )
    if net.n_outputs != ds.n_classes:
        raise ValidationError(
            f"The model has {net.n_outputs} outputs but data set {ds.name!r} has {ds.n_classes} classes."
        )
    meta = {"source": "import", "original_path": str(Path(path).resolve()), "dataset": _dataset_spec(ds, csv, target)}
    return _store_model(
        store, net, ds, name=name or Path(path).stem, meta=meta,
        train_acc=accuracy(net, ds.x_train, ds.y_train), test_acc=accuracy(net, ds.x_test, ds.y_test),
    )


def estimate_run(
    store: Store,
    model_id: str,
    *,
    estimator: str = "mine",
    split: str = "all",
    seed: int = 0,
    beta: float = 0.0,
    variant: str = "pairwise",
    options: dict[str, Any] | None = None,
    progress: ProgressFn | None = None,
    null: bool = False,
    null_draws: int | None = None,
    bootstrap: int = 0,
    bias_correct: bool = False,
) -> tuple[RunRecord, Any]:
    """Estimate the NIF of every edge of a stored model on a data split and store the run.

    ``split="all"`` (default) uses train and test samples together: NIF describes what the
    network does to the data, and MI estimates need every sample they can get (Iris has 150).
    ``null``, ``null_draws``, ``bootstrap``, ``bias_correct``: per-edge p-/q-values and
    intervals (:mod:`nifgraph.significance`), recorded under ``settings["significance"]``.
    """
    from . import mi
    from .nif import edges_frame, estimate_nif

    model = store.get_model(model_id)
    net = load_model_network(model)
    ds = model_dataset(model)
    x, _ = ds.split(split)
    acts = net.forward_layers(x)
    t0 = time.perf_counter()
    nif = estimate_nif(
        acts, estimator=estimator, beta=beta, variant=variant, seed=seed, progress=progress,
        null=null, null_draws=null_draws, bootstrap=bootstrap, bias_correct=bias_correct, **(options or {})
    )
    elapsed = time.perf_counter() - t0
    settings = {**mi.describe(estimator), **(options or {})}
    if nif.significance:
        settings["significance"] = nif.significance
    run = RunRecord(
        run_id=new_id("r"),
        model_id=model.model_id,
        estimator=estimator,
        seed=seed,
        split=split,
        n_samples=int(x.shape[0]),
        beta=beta,
        variant=variant,
        settings=settings,
        elapsed_s=elapsed,
    )
    store.put_run(run, edges_frame(nif, run.run_id))
    return run, nif


def check_estimation_settings(
    estimator: str, *, beta: float = 0.0, variant: str = "pairwise", split: str = "all",
    gamma: float = 1.0, threshold: float = DEFAULT_THRESHOLD,
) -> None:
    """Validate settings before any work is done or anything is stored."""
    from . import mi
    from .nif import VARIANTS

    if estimator not in mi.METHODS:
        raise ValidationError(f"Unknown estimator {estimator!r}; choose one of {', '.join(mi.METHODS)}.")
    if variant not in VARIANTS:
        raise ValidationError(f"Unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}.")
    if split not in ("all", "train", "test"):
        raise ValidationError(f"Unknown split {split!r}; use all, train or test.")
    if not beta >= 0:
        raise ValidationError(f"--beta must be ≥ 0; got {beta}.")
    if not gamma > 0:
        raise ValidationError(f"The resolution gamma must be positive; got {gamma}.")
    if not threshold >= 0:
        raise ValidationError(f"The threshold must be ≥ 0 nats; got {threshold}.")


def verify_pruning(model: ModelRecord, neurons: list[tuple[int, int]]) -> tuple[float, float]:
    """Held-out accuracy before and after zeroing ``neurons`` (their in/out weights and bias)."""
    from .network import accuracy, pruned

    net = load_model_network(model)
    ds = model_dataset(model)
    before = accuracy(net, ds.x_test, ds.y_test)
    after = accuracy(pruned(net, neurons), ds.x_test, ds.y_test) if neurons else before
    return before, after


def analyze_run(
    store: Store,
    run_id: str,
    *,
    gamma: float = 1.0,
    threshold: float | None = None,
    seed: int = 0,
    engine: str = "auto",
    alpha: float | None = None,
) -> AnalysisRecord:
    """Betweenness, communities, attribution and prunable neurons of a run; pruning verified
    by re-measuring held-out accuracy; the result stored with the run.

    ``engine``: ``"local"`` (igraph + numpy, in process), ``"gds"`` (Neo4j Graph Data
    Science), or ``"auto"`` (GDS when the store is Neo4j with GDS, else local).

    Significance (runs estimated with a permutation null, ``--null``): ``alpha`` keeps only
    edges with BH q-value ≤ alpha. Default: :data:`DEFAULT_ALPHA` (0.05) when the run has
    q-values, none otherwise; ``alpha >= 1`` turns the filter off. ``threshold`` (nats) is
    the prunable rule's flow floor: default 0 when the significance filter is on (a neuron is
    then prunable when dead or without a significant edge in or out) and
    :data:`DEFAULT_THRESHOLD` otherwise.
    """
    if engine not in ("auto", "local", "gds"):
        raise ValidationError(f"Unknown engine {engine!r}; use auto, local or gds.")
    if not gamma > 0:
        raise ValidationError(f"The resolution gamma must be positive; got {gamma}.")
    if alpha is not None and not 0 < alpha:
        raise ValidationError(f"--alpha must be in (0, 1]; got {alpha}.")
    run = store.get_run(run_id)
    model = store.get_model(run.model_id)
    from .significance import DEFAULT_ALPHA

    has_null = bool((run.settings.get("significance") or {}).get("null"))
    if alpha is None:
        alpha = DEFAULT_ALPHA if has_null else None
    elif alpha >= 1:
        alpha = None
    if threshold is None:
        threshold = 0.0 if alpha is not None else DEFAULT_THRESHOLD
    if not threshold >= 0:
        raise ValidationError(f"The threshold must be ≥ 0 nats; got {threshold}.")
    notes: list[str] = []
    if store.kind == "neo4j" and engine != "local":
        from .analysis.gds import analyze_run as db_analyze

        result, engine_used, notes = _unpack_gds(
            db_analyze(store, run_id, gamma=gamma, threshold=threshold, seed=seed, engine=engine, alpha=alpha)
        )
    else:
        if engine == "gds":
            from .errors import GdsMissingError

            raise GdsMissingError(
                f"--engine gds needs a Neo4j store with Graph Data Science; {store.uri} is a {store.kind} store. Use --engine local."
            )
        result = local_analysis(store, run, model, gamma=gamma, threshold=threshold, seed=seed, alpha=alpha)
        engine_used = "local"
    sizes = model.layer_sizes
    metrics = result.metrics_frame(sizes)
    prunable = [(int(r.layer), int(r.idx)) for r in metrics[metrics["prunable"]].itertuples()]
    before, after = verify_pruning(model, prunable)
    record = AnalysisRecord(
        run_id=run_id,
        engine=engine_used,
        gamma=gamma,
        threshold=threshold,
        modularity=float(result.modularity),
        n_communities=int(result.n_communities),
        accuracy_before=before,
        accuracy_after=after,
        neuron_metrics=metrics,
        attribution=result.attribution_frame(),
        settings={"seed": seed, "alpha": alpha, "notes": notes, "cost": "-ln(value_norm)"},
    )
    store.put_analysis(record)
    return record


def _unpack_gds(out: Any) -> tuple[Any, str, list[str]]:
    if isinstance(out, tuple):
        if len(out) == 3:
            return out[0], out[1], list(out[2])
        return out[0], out[1], []
    return out, "gds", []


def run_matrices(store: Store, run: RunRecord, model: ModelRecord, alpha: float | None = None) -> list[np.ndarray]:
    """The run's NIF matrices; with ``alpha``, edges whose q-value exceeds it are zeroed."""
    from .nif import matrices_from_edges

    edges = store.get_edges(run.run_id)
    if alpha is not None:
        q = edges["q_value"]
        if q.isna().all():
            raise ValidationError(
                f"Run {run.run_id} has no significance values; estimate with --null to use --alpha."
            )
        edges = edges.assign(value=np.where(q.to_numpy() <= alpha, edges["value"].to_numpy(), 0.0))
    return matrices_from_edges(edges, model.layer_sizes, "value")


def local_analysis(store: Store, run: RunRecord, model: ModelRecord, *, gamma: float, threshold: float, seed: int, alpha: float | None = None):
    from .analysis.local import analyze

    mats = run_matrices(store, run, model, alpha)
    neurons = store.get_neurons(model.model_id)
    dead = neurons.sort_values(["layer", "idx"])["dead"].to_numpy(dtype=bool)
    return analyze(mats, dead, gamma=gamma, threshold=threshold, seed=seed)


@dataclass
class MainJobResult:
    model: ModelRecord
    run: RunRecord
    analysis: AnalysisRecord
    timings: dict[str, float] = field(default_factory=dict)


def run_main_job(
    store: Store,
    ds: Dataset,
    train_config: Any = None,
    *,
    estimator: str = "mine",
    estimator_options: dict[str, Any] | None = None,
    split: str = "all",
    beta: float = 0.0,
    variant: str = "pairwise",
    seed: int = 0,
    gamma: float = 1.0,
    threshold: float | None = None,
    name: str | None = None,
    csv: str | None = None,
    target: str | None = None,
    on_train: ProgressFn | None = None,
    on_estimate: ProgressFn | None = None,
    null: bool = False,
    null_draws: int | None = None,
    bootstrap: int = 0,
    bias_correct: bool = False,
) -> MainJobResult:
    """Train → estimate → analyse → verify pruning, everything stored.

    With ``null`` the analysis keeps only edges with q ≤ 0.05 (see :func:`analyze_run`).
    """
    from .significance import DEFAULT_NULL_DRAWS, SignificanceSpec

    SignificanceSpec(
        null=null, null_draws=DEFAULT_NULL_DRAWS if null_draws is None else null_draws,
        bootstrap=bootstrap, bias_correct=bias_correct,
    ).validate("run", variant)
    check_estimation_settings(
        estimator, beta=beta, variant=variant, split=split, gamma=gamma,
        threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
    )
    timings: dict[str, float] = {}
    t = time.perf_counter()
    model, _ = train_model(store, ds, train_config, name=name, csv=csv, target=target, progress=on_train)
    timings["train_s"] = time.perf_counter() - t
    t = time.perf_counter()
    run, _ = estimate_run(
        store, model.model_id, estimator=estimator, split=split, seed=seed, beta=beta, variant=variant,
        options=estimator_options, progress=on_estimate,
        null=null, null_draws=null_draws, bootstrap=bootstrap, bias_correct=bias_correct,
    )
    timings["estimate_s"] = time.perf_counter() - t
    t = time.perf_counter()
    analysis = analyze_run(
        store, run.run_id, gamma=gamma, threshold=threshold, seed=seed
    )
    timings["analyze_s"] = time.perf_counter() - t
    return MainJobResult(model=model, run=run, analysis=analysis, timings=timings)

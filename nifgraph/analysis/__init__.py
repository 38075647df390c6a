"""Analysis of a stored NIF run: the one place that chooses the engine, applies the settings,
verifies the pruning and stores the result.

* :mod:`.local` -- the pure in-process engine (igraph + numpy; arrays in, arrays out) and
  the rules every engine shares (prunable rule, community numbering).
* :mod:`.gds` -- the same metrics computed inside Neo4j with Graph Data Science.
* :mod:`.pruning` -- pruning curves (NIF-guided orders against baselines).
* :mod:`.attribution` -- NIF attribution against SHAP, Integrated Gradients and raw MI.
* :mod:`.summaries` -- side-by-side comparison of stored models.
* :mod:`.agreement` -- do two runs of a model tell the same story?

Engines: ``local`` always works; ``gds`` needs a Neo4j store whose server has GDS;
``auto`` takes GDS when it can and says so when it falls back.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from ..errors import GdsMissingError, ValidationError
from ..records import AnalysisRecord, ModelRecord, RunRecord
from ..settings import AnalysisSettings
from ..store.base import Store

if TYPE_CHECKING:  # pragma: no cover
    from ..data import Dataset
    from ..network import Network
    from .local import Analysis

__all__ = ["analyze_run", "compute", "EngineResult", "run_matrices", "run_blocks"]


#: The edge columns the analysis reads back (:meth:`Store.iter_edges`): a chain's matrices need
#: the source layer and both indices, a DAG's blocks the target layer too.
CHAIN_KEYS = ("src_layer", "src_idx", "dst_idx")
DAG_KEYS = ("src_layer", "src_idx", "dst_layer", "dst_idx")


def _significant_slices(store: Store, run: RunRecord, alpha: float | None, keys: tuple[str, ...]) -> Iterator[Any]:
    """The run's edges in slices of ``keys`` and ``value`` (:meth:`Store.iter_edges`: no frame of
    all edges); with ``alpha``, edges whose BH q-value exceeds it get value 0, and a run without
    any q-value is a :class:`ValidationError` once every slice has been read."""
    columns = (*keys, "value", "q_value") if alpha is not None else (*keys, "value")
    has_q = False
    for part in store.iter_edges(run.run_id, columns):
        if alpha is not None:
            q = part["q_value"]
            has_q = has_q or bool(q.notna().any())
            part = part.assign(value=np.where(q.to_numpy() <= alpha, part["value"].to_numpy(), 0.0))
        yield part
    if alpha is not None and not has_q:
        raise ValidationError(
            f"Run {run.run_id} has no significance values; estimate with --null to use --alpha."
        )


def run_matrices(store: Store, run: RunRecord, model: ModelRecord, alpha: float | None = None) -> list[np.ndarray]:
    """The run's NIF matrices ``(n_l, n_{l+1})``; with ``alpha``, edges whose BH q-value
    exceeds it are zeroed (no significant information, no edge). Filled slice by slice."""
    from ..nif import add_edges

    sizes = model.layer_sizes
    mats = [np.zeros((sizes[la], sizes[la + 1])) for la in range(len(sizes) - 1)]
    for part in _significant_slices(store, run, alpha, CHAIN_KEYS):
        add_edges(mats, part, "value")
    return mats


def run_blocks(store: Store, run: RunRecord, model: ModelRecord, alpha: float | None = None) -> dict[tuple[int, int], np.ndarray]:
    """A DAG model's NIF blocks ``{(a, b): (n_a, n_b)}`` (skip pairs included), zeroed above
    ``alpha`` as :func:`run_matrices` does. Filled slice by slice."""
    from .dag_flow import add_block_edges, sorted_blocks

    sizes = tuple(int(s) for s in model.layer_sizes)
    blocks: dict[tuple[int, int], np.ndarray] = {}
    for part in _significant_slices(store, run, alpha, DAG_KEYS):
        add_block_edges(blocks, part, sizes)
    return sorted_blocks(blocks)


def _local(store: Store, run: RunRecord, model: ModelRecord, settings: AnalysisSettings) -> Analysis:
    from .local import analyze

    mats = run_matrices(store, run, model, settings.alpha)
    dead = store.get_neurons(model.model_id).sort_values(["layer", "idx"])["dead"].to_numpy(dtype=bool)
    return analyze(mats, dead, gamma=settings.gamma, threshold=float(settings.threshold or 0.0), seed=settings.seed)


def _local_dag(store: Store, run: RunRecord, model: ModelRecord, settings: AnalysisSettings) -> Analysis:
    """The chain engine's :class:`~.local.Analysis`, computed on a DAG model's layer pairs."""
    from .dag_flow import DagNif, analyze_dag
    from .local import Analysis, frozen

    sizes = tuple(int(s) for s in model.layer_sizes)
    blocks = run_blocks(store, run, model, settings.alpha)
    dead = store.get_neurons(model.model_id).sort_values(["layer", "idx"])["dead"].to_numpy(dtype=bool)
    threshold = float(settings.threshold or 0.0)
    r = analyze_dag(DagNif(sizes, blocks), gamma=settings.gamma, threshold=threshold, seed=settings.seed, dead=dead)
    return Analysis(
        betweenness=frozen(r.betweenness), membership=frozen(r.community), modularity=r.modularity,
        n_communities=int(len(np.unique(r.community))), attribution=frozen(r.attribution), in_flow=frozen(r.in_flow),
        out_flow=frozen(r.out_flow), prunable=frozen(r.prunable), gamma=settings.gamma, threshold=threshold,
        seed=settings.seed, sizes=sizes,
    )


def _decided(metrics: Any, rec: Any) -> Any:
    """The metrics table with the verified decision of ``rec`` (a :class:`~.recommend.Recommendation`)."""
    key = list(zip(metrics["layer"].astype(int), metrics["idx"].astype(int), strict=True))
    recommended, candidates = set(rec.recommended), set(rec.candidates)
    return metrics.assign(
        prunable=[u in recommended for u in key],
        candidate=[u in candidates for u in key],
        accuracy_drop=[rec.drops.get(u, float("nan")) for u in key],
    )


class EngineResult(NamedTuple):
    """What :func:`compute` returns: the metrics, the engine that ran, notes, the resolved
    settings, and the run and model it read (so callers need not read them again)."""

    analysis: Analysis
    engine: str
    notes: list[str]
    settings: AnalysisSettings
    run: RunRecord
    model: ModelRecord


def compute(
    store: Store, run_id: str, settings: AnalysisSettings | None = None, *, gds: Any = None
) -> EngineResult:
    """The metrics of one stored run on the chosen engine, nothing verified or stored.

    ``settings`` is validated and resolved for the run here; ``gds`` is a client to use
    instead of connecting (tests pass a fake)."""
    from .gds import GDS_FIX, gds_analysis, unsupported_server

    run = store.get_run(run_id)
    model = store.get_model(run.model_id)
    has_null = bool((run.settings.get("significance") or {}).get("null"))
    settings = (settings or AnalysisSettings()).resolved(has_null)
    local = _local_dag if model.is_dag else _local  # a CNN / residual model: the DAG engine
    if settings.engine == "local":
        return EngineResult(local(store, run, model, settings), "local", [], settings, run, model)
    if gds is None:
        version, reason = store.gds_version()
        if version is None:
            if settings.engine == "gds":
                if store.kind != "neo4j":
                    raise GdsMissingError(
                        f"--engine gds needs a Neo4j store with Graph Data Science; {store.uri} is a "
                        f"{store.kind} store: use --engine local."
                    )
                raise GdsMissingError(f"Neo4j at {store.uri} has no Graph Data Science; {GDS_FIX}.")
            notes = [] if store.kind != "neo4j" else [
                f"Graph Data Science not installed on {store.uri}; ran the local engine (igraph)."
            ]
            return EngineResult(local(store, run, model, settings), "local", notes, settings, run, model)
        problem = unsupported_server(version)
        if problem:  # a GDS older than the client supports
            if settings.engine == "gds":
                raise GdsMissingError(problem)
            return EngineResult(local(store, run, model, settings), "local", [f"{problem} Ran the local engine."], settings, run, model)
    analysis, notes = gds_analysis(store, run, model, settings, gds)
    return EngineResult(analysis, "gds", notes, settings, run, model)


def analyze_run(
    store: Store,
    run_id: str,
    settings: AnalysisSettings | None = None,
    *,
    gds: Any = None,
    network: Network | None = None,
    dataset: Dataset | None = None,
) -> AnalysisRecord:
    """Betweenness, communities, attribution and prunable neurons of a stored run; pruning
    verified by re-measuring held-out accuracy; the result stored with the run.

    Parameters
    ----------
    settings : AnalysisSettings, optional
        Validated here; ``alpha`` and ``threshold`` default per run (see
        :meth:`~nifgraph.settings.AnalysisSettings.resolved`).
    network, dataset : optional
        The model's network and data split when the caller has them in hand (the main job);
        otherwise they are reloaded from the checkpoint and the data set's recipe.

    Pruning: the flow rule flags hidden neurons; those the unit-level test also finds empty
    are *candidates*; the recommended (``prunable``) set is verified by removing it with the
    mean folded into the next layer's bias and re-measuring held-out accuracy, within
    ``settings.tolerance`` (:func:`~nifgraph.analysis.recommend.prune_decision`). Candidates
    that are needed are kept and reported with their measured drop.
    """
    from ..significance import DEFAULT_ALPHA
    from ..stored import load_model_network, model_dataset
    from .recommend import prune_decision

    result, engine_used, notes, settings, run, model = compute(store, run_id, settings, gds=gds)
    metrics = result.metrics_frame(model.layer_sizes)
    flagged = [(int(r.layer), int(r.idx)) for r in metrics[metrics["prunable"]].itertuples()]
    net = network if network is not None else load_model_network(model, store)
    ds = dataset if dataset is not None else model_dataset(model)
    rec, uninformative = prune_decision(
        net, net.forward_layers(ds.split(run.split)[0]), flagged, ds.x_train, ds.x_test, ds.y_test,
        tolerance=settings.tolerance, alpha=settings.alpha or DEFAULT_ALPHA, seed=settings.seed,
    )
    metrics = _decided(metrics, rec)
    before, after = rec.accuracy_before, rec.accuracy_after
    removal = "unit replaced by its training mean inside the graph" if model.is_dag else (
        "mean folded into the next bias (training-split means)")
    pruning = {
        "tolerance": settings.tolerance, "removal": removal,
        "flagged_by_flow": [list(u) for u in flagged], "uninformative_units": [list(u) for u in uninformative],
        "candidates": [list(u) for u in rec.candidates], "recommended": [list(u) for u in rec.recommended],
        "rejected": [{"unit": list(r.unit), "drop_alone": r.drop_alone, "drop_with_set": r.drop_with_set} for r in rec.rejected],
    }
    extra: dict[str, Any] = {"cost": "-ln(value_norm)"}
    if model.is_dag:
        extra = {"cost": "1 - ln(value_norm) per layer pair", "dag": True}
        notes = [*notes, DAG_PRUNING_NOTE]
    record = AnalysisRecord(
        run_id=run_id,
        engine=engine_used,
        gamma=settings.gamma,
        threshold=float(settings.threshold or 0.0),
        modularity=float(result.modularity),
        n_communities=int(result.n_communities),
        accuracy_before=before,
        accuracy_after=after,
        neuron_metrics=metrics,
        attribution=result.attribution_frame(),
        settings={"seed": settings.seed, "alpha": settings.alpha, "notes": notes, **extra, "pruning": pruning},
    )
    store.put_analysis(record)
    return record


#: How a DAG model's pruning decision differs from a chain's.
DAG_PRUNING_NOTE = (
    "DAG model: the unit-level information test reads every layer that feeds a unit's layer and every layer "
    "it feeds (skip paths included); each candidate is verified by replacing it with its training mean inside "
    "the traced graph (a channel over all its positions) and re-measuring held-out accuracy."
)

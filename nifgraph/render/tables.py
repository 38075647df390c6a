"""Rendering of stored results as rich tables and plain dicts (for ``--json``).
Pure presentation: takes records and frames, returns renderables or dicts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from rich.text import Text

from ..records import AnalysisRecord, ModelRecord, RunRecord, layer_table
from .layout import Col, FitTable, fmt_num

if TYPE_CHECKING:  # pragma: no cover
    from ..store.base import Store


def _fmt(v: float, nd: int = 3) -> str:
    return fmt_num(v, nd)


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def neuron_names(model: ModelRecord, neurons: pd.DataFrame) -> dict[tuple[int, int], str]:
    return {(int(r.layer), int(r.idx)): str(r.name) for r in neurons.itertuples()}


def models_table(rows: list[dict[str, Any]]) -> FitTable:
    # ids are what users copy into the next command: never wrap or truncate them
    cols = [Col("model", kind="id"), Col("name"), Col("data"), Col("architecture", "arch"),
            Col("test acc", "acc", "num"), Col("runs", kind="num"), Col("prunable", "prun", "num"), Col("created")]
    return FitTable(cols, [
        [r["model_id"], r["name"], r["dataset"], f"{r['architecture']} {r['activation']}" + ("" if r.get("kind", "mlp") == "mlp" else f" ({r['kind']})"), _fmt(r["test_accuracy"]),
         str(r["runs"]), "—" if r["prunable"] is None else f"{r['prunable']}/{r['hidden']}",
         r["created_at"][:16].replace("T", " ")]
        for r in rows
    ], title="Stored models")


def summary_dict(model: ModelRecord, run: RunRecord | None, analysis: AnalysisRecord | None, neurons: pd.DataFrame) -> dict[str, Any]:
    names = neuron_names(model, neurons)
    out: dict[str, Any] = {
        "model_id": model.model_id,
        "name": model.name,
        "dataset": model.dataset,
        "architecture": model.architecture,
        "activations": list(model.activations),
        "test_accuracy": model.test_accuracy,
        "train_accuracy": model.train_accuracy,
        "run_id": run.run_id if run else None,
    }
    if run is not None:
        out["estimator"] = run.estimator
        out["run"] = {
            "split": run.split, "n_samples": run.n_samples, "seed": run.seed, "beta": run.beta,
            "variant": run.variant, "elapsed_s": run.elapsed_s, "settings": run.settings,
        }
    if analysis is not None:
        m = analysis.neuron_metrics
        out.update(
            engine=analysis.engine,
            gamma=analysis.gamma,
            threshold=analysis.threshold,
            alpha=analysis.settings.get("alpha"),
            prunable=[{"layer": la, "idx": i, "name": names.get((la, i), "")} for la, i in analysis.prunable],
            accuracy_before=analysis.accuracy_before,
            accuracy_after=analysis.accuracy_after,
            n_communities=analysis.n_communities,
            modularity=analysis.modularity,
            attribution={
                "features": list(model.feature_names),
                "classes": list(model.class_names),
                "matrix": analysis.attribution_matrix(model).tolist(),
            },
            betweenness={names.get((int(r.layer), int(r.idx)), ""): float(r.betweenness) for r in m.itertuples()},
            communities={names.get((int(r.layer), int(r.idx)), ""): int(r.community) for r in m.itertuples()},
            notes=analysis.settings.get("notes", []),
            pruning=_pruning_dict(analysis, names),
        )
    return out


def _pruning_dict(analysis: AnalysisRecord, names: dict[tuple[int, int], str]) -> dict[str, Any]:
    """The pruning decision with neuron names: what looked empty, what was verified, what is needed."""
    p = analysis.settings.get("pruning") or {}
    m = analysis.neuron_metrics

    def named(units: list) -> list[dict[str, Any]]:
        return [{"layer": int(a), "idx": int(b), "name": names.get((int(a), int(b)), "")} for a, b in units]

    drop = {(int(r.layer), int(r.idx)): float(r.accuracy_drop) for r in m[m["candidate"]].itertuples()}
    return {
        "tolerance": p.get("tolerance"),
        "flagged_by_flow": named(p.get("flagged_by_flow", [])),
        "candidates": [dict(u, accuracy_drop=drop.get((u["layer"], u["idx"]))) for u in named(p.get("candidates", []))],
        "needed": [
            dict(u, accuracy_drop=r["drop_alone"], drop_with_set=r["drop_with_set"])
            for r in p.get("rejected", []) for u in named([r["unit"]])
        ],
    }


def conv_samples_text(settings: dict[str, Any]) -> str:
    """A DAG run's conv samples in words (``show``)."""
    if settings.get("conv_samples") != "positions":
        return "mean over positions (one sample per image)"
    pairs = settings.get("position_pairs") or []
    return (f"positions: {len(pairs)} conv→conv layer pair{'s' if len(pairs) != 1 else ''} on "
            f"{settings.get('position_samples', 0):,} position samples (cap {settings.get('max_positions', 0):,}); "
            "other pairs on means")


def header_table(model: ModelRecord, run: RunRecord | None, analysis: AnalysisRecord | None) -> FitTable:
    rows: list[tuple[Text, str]] = []

    def add(key: str, value: str) -> None:
        rows.append((Text(key, style="bold"), value))

    add("data set", model.dataset)
    add("architecture", f"{model.architecture} ({', '.join(model.activations)})")
    add("held-out accuracy", _fmt(model.test_accuracy, 4))
    spec = model.meta.get("dataset") or {}
    add("inputs", "standardised (training split's mean and std)" if spec.get("standardize", True) else "raw features")
    for note in model.meta.get("notes", []) or []:
        add("note", str(note))
    if run is not None:
        add("run", f"{run.run_id} · {run.estimator} · {run.n_samples} samples ({run.split}) · seed {run.seed} · {run.elapsed_s:.1f} s")
        if run.beta:
            add("redundancy β", f"{run.beta}")
        if run.settings.get("conv_samples") and any(la["kind"] == "conv" for la in layer_table(model)):
            add("conv samples", conv_samples_text(run.settings))  # a DAG of Linear layers has none
    if analysis is not None:
        add("engine", analysis.engine)
        add("communities", f"{analysis.n_communities} (γ = {analysis.gamma}, modularity {analysis.modularity:.3f})")
        p = analysis.settings.get("pruning") or {}
        alpha = analysis.settings.get("alpha")
        rule = f"threshold {analysis.threshold:g} nats" + (f", q ≤ {alpha:g}" if alpha is not None else "")
        add(
            "pruning check",
            f"{_count(len(p.get('flagged_by_flow', analysis.prunable)), 'neuron')} flagged ({rule}), "
            f"{_count(len(p.get('candidates', analysis.prunable)), 'candidate')}, "
            f"{len(analysis.prunable)} verified prunable (tolerance {p.get('tolerance', '—')}); "
            f"held-out accuracy {analysis.accuracy_before:.4f} → {analysis.accuracy_after:.4f}",
        )
        for note in analysis.settings.get("notes", []) or []:
            add("note", str(note))
    return FitTable([Col("key"), Col("value")], rows, title=f"Model {model.model_id} — {model.name}", show_header=False)


def neuron_table(model: ModelRecord, analysis: AnalysisRecord, neurons: pd.DataFrame, top: int | None = None) -> FitTable:
    m = analysis.neuron_metrics.merge(neurons, on=["layer", "idx"], how="left")
    m = m.sort_values("betweenness", ascending=False)
    if top:
        m = m.head(top)
    cols = [Col("neuron"), Col("layer", "L", "num"), Col("role"), Col("betweenness", "btw", "num"),
            Col("community", "com", "num"), Col("NIF in", "in", "num"), Col("NIF out", "out", "num"),
            Col("zero frac", "zero", "num"), Col("prunable", "prune")]
    return FitTable(cols, [
        [str(r.name), str(r.layer), str(r.role), _fmt(r.betweenness, 2), str(r.community),
         _fmt(r.in_flow), _fmt(r.out_flow), (f"{r.zero_frac:.2f}" if np.isfinite(r.zero_frac) else "—"), Text("yes", style="bold red") if r.prunable else ""]
        for r in m.itertuples()
    ], title="Neurons by betweenness (flow centrality; NIF in nats)")


def attribution_table(model: ModelRecord, analysis: AnalysisRecord) -> FitTable:
    mat = analysis.attribution_matrix(model)
    cols = [Col("feature")] + [Col(str(c), kind="num") for c in model.class_names]
    order = np.argsort(-mat.sum(axis=1))
    return FitTable(
        cols, [[str(model.feature_names[i]), *[_fmt(v) for v in mat[i]]] for i in order],
        title="Feature attribution, the paper's path product A[i,j] = Σ over paths of Π NIF (nats^depth; class-blind). "
        "Class-specific: `nifgraph attribution`",
    )


def class_attribution_table(res: Any) -> FitTable:
    """A :class:`~nifgraph.analysis.attribution.ClassAttribution` as a feature × class table,
    features ordered by their largest value."""
    cols = [Col("feature")] + [Col(str(c), kind="num") for c in res.class_names]
    return FitTable(
        cols,
        [[str(res.feature_names[i]), *[_fmt(v) for v in res.values[i]]] for i in np.argsort(-res.values.max(axis=1), kind="stable")],
        title=f"Feature attribution ({res.method}; {res.unit})",
    )


def prune_table(model: ModelRecord, analysis: AnalysisRecord, neurons: pd.DataFrame) -> FitTable:
    names = neuron_names(model, neurons)
    m = analysis.neuron_metrics.merge(neurons, on=["layer", "idx"], how="left")
    tol = (analysis.settings.get("pruning") or {}).get("tolerance")
    removal = (analysis.settings.get("pruning") or {}).get("removal") or "mean folded into the next bias"
    removal = removal.removesuffix(" (training-split means)")
    cols = [Col("neuron"), Col("layer", "L", "num"), Col("why it looked empty", "why"), Col("NIF in (sum)", "in", "num"),
            Col("NIF out (sum)", "out", "num"), Col("drop alone", "drop", "num"), Col("verdict")]
    rows = []
    alpha = analysis.settings.get("alpha")
    for r in m[m["candidate"] | m["prunable"]].itertuples():
        if r.dead:
            why = "dead (constant output)"
        elif alpha is not None:
            why = f"no significant edge in or out (q ≤ {alpha:g}) above {analysis.threshold:g} nats"
        else:
            why = f"no edge in or out above {analysis.threshold:g} nats"
        verdict = "prune" if r.prunable else "keep: needed"
        rows.append([names[(int(r.layer), int(r.idx))], str(r.layer), why, _fmt(r.in_flow), _fmt(r.out_flow),
                     _fmt(r.accuracy_drop), verdict])
    return FitTable(
        cols, rows,
        title="Pruning candidates (no information in or out) and the verdict of removing them "
        f"({removal}; held-out accuracy, tolerance {tol if tol is not None else '—'})",
    )


def full_report(model: ModelRecord, run: RunRecord | None, analysis: AnalysisRecord | None, neurons: pd.DataFrame, *, top: int | None = None) -> list[Any]:
    """The renderables of a full report: header, neurons, attribution, prunable neurons."""
    out: list[Any] = [header_table(model, run, analysis)]
    if run is None:
        out.append(Text.assemble(("No NIF run yet:", "yellow"), f" run `nifgraph estimate {model.model_id}`."))
        return out
    if analysis is None:
        out.append(Text.assemble(("No analysis yet:", "yellow"), f" run `nifgraph analyze {run.run_id}`."))
        return out
    out += [neuron_table(model, analysis, neurons, top=top), attribution_table(model, analysis)]
    if analysis.prunable or bool(analysis.neuron_metrics["candidate"].any()):
        out.append(prune_table(model, analysis, neurons))
    return out


def model_rows(store: Store) -> list[dict[str, Any]]:
    """One row per stored model (``nifgraph models``): accuracy, runs, prunable count."""
    rows = []
    for m in store.list_models():
        runs = store.list_runs(m.model_id)
        found = store.newest_analysed(runs)  # an unanalysed newer run does not hide the results
        a = found[1] if found else None
        rows.append(dict(
            model_id=m.model_id, name=m.name, dataset=m.dataset, architecture=m.architecture,
            activation=",".join(sorted(set(m.activations) - {"identity"})) or "identity",
            test_accuracy=m.test_accuracy, runs=len(runs), run_ids=[r.run_id for r in runs],
            prunable=None if a is None else len(a.prunable), hidden=sum(m.layer_sizes[1:-1]),
            created_at=m.created_at, kind=_kind(m),
        ))
    return rows


def _kind(model: ModelRecord) -> str:
    """``mlp`` for a chain of Linear layers; a DAG model: ``conv`` when it has conv layers,
    ``+skip`` when a layer reads more than the one before it (``dag`` for Linear layers alone)."""
    if not model.is_dag:
        return "mlp"
    layers = (model.meta.get("dag") or {}).get("layers") or []
    conv = any(la.get("kind") == "conv" for la in layers)
    skip = any(list(la.get("inputs") or []) not in ([], [k - 1]) for k, la in enumerate(layers))
    return ("conv" if conv else "dag") + ("+skip" if skip and conv else "")

"""Comparison commands: ``compare`` (stored models side by side), ``attribution-compare``
(NIF attribution against SHAP, IG and raw MI), ``prune-curve`` (accuracy against neurons
removed, NIF-guided against baselines) and ``agreement`` (two runs of one model). Thin:
parse, call :mod:`nifgraph.analysis`, render with :mod:`nifgraph.render`."""

from __future__ import annotations

from typing import Annotated

import typer

from ..render.charts import plot_attributions, plot_prune_curves
from ..render.comparisons import (
    agreement_report,
    attribution_tables,
    comparison_tables,
    prune_tables,
)
from .options import (
    JsonOpt,
    OutOpt,
    SeedsOpt,
    StoreOpt,
    console,
    open_store_cli,
    print_json,
)
from .runs import on_analysed_run

__all__ = ["compare", "attribution_compare", "prune_curve", "agreement", "register"]


def compare(
    models: Annotated[list[str] | None, typer.Argument(help="Model ids (or unique prefixes / names).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Compare every stored model that has an analysed run (the others are named as left out).")] = False,
    dataset: Annotated[str | None, typer.Option("--dataset", "-d", help="Compare every stored model of this data set.")] = None,
    plot: Annotated[bool, typer.Option("--plot", help="Draw the attributions side by side (PNG).")] = False,
    details: Annotated[bool, typer.Option("--details", help="Every column (name, parameters, modularity, run, top features per class) and the agreement of every pair; default: one line per model.")] = False,
    out: OutOpt = None,
    store: StoreOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Stored models side by side (one line each; --details for more): accuracy, size, prunable share, communities, flow concentration,
    top features, and the rank agreement of their attributions."""
    from ..analysis.summaries import compare_models
    from ..config import default_out
    from ..errors import ValidationError

    left_out: list[str] = []
    unestimated: set[str] = set()  # left out: no run at all (the others have runs, none analysed)
    with open_store_cli(store, read_only=True) as st:
        refs = list(models or [])
        if all_ or dataset:
            stored = st.list_models()
            chosen = [m for m in stored if not dataset or m.dataset == dataset.strip().lower()]
            if dataset and not chosen and stored:
                have = ", ".join(sorted({m.dataset for m in stored}))
                raise ValidationError(f"No stored model is of data set {dataset.strip()!r}; the stored ones are of: {have}.")
            for m in chosen:
                runs = st.list_runs(m.model_id)
                analysed = st.newest_analysed(runs) is not None
                (refs if analysed else left_out).append(m.model_id)
                if not runs:
                    unestimated.add(m.model_id)
        fix = _left_out_fix(left_out, unestimated)
        if not refs:
            raise ValidationError("No model to compare: name models, or use --all or --dataset NAME (models need an analysed run"
                                  + (f"; {len(left_out)} stored model(s) have none: {fix})." if left_out else ")."))
        res = compare_models(st, refs)
    figure = None
    if plot:
        figure = plot_attributions(res.summaries, (out or default_out()) / "compare_attributions.png")
    if json_:
        d = res.to_dict()
        d["figure"] = str(figure) if figure else None
        d["left_out"] = left_out
        print_json(d)
        return
    for t in comparison_tables(res, details=details):
        console.print(t)
    if left_out:  # --all / --dataset: say who is missing rather than drop them silently
        console.print(f"left out {len(left_out)} model(s) without an analysed run ({fix}): " + ", ".join(left_out))
    if figure:
        console.print(f"figure: {figure}")

def _left_out_fix(left_out: list[str], unestimated: set[str]) -> str:
    """What gives the left-out models an analysed run: estimating those without a run,
    analysing those whose runs were never analysed."""
    parts = []
    if unestimated:
        parts.append("nifgraph estimate MODEL" + (" for those without a run" if len(unestimated) < len(left_out) else ""))
    if len(unestimated) < len(left_out):
        parts.append("nifgraph analyze MODEL" + (" for the others" if unestimated else ""))
    return "; ".join(parts)


def attribution_compare(
    model: Annotated[str, typer.Argument(help="Model id or run id (its newest analysed run).")],
    mi_estimator: Annotated[str, typer.Option("--mi-estimator", help="Estimator of the raw MI baseline.")] = "ksg",
    seed: Annotated[int, typer.Option("--seed", help="Seeds the SHAP background sample and random orders.")] = 0,
    store: StoreOpt = None,
    json_: JsonOpt = False,
) -> None:
    """NIF attribution against SHAP, Integrated Gradients and raw MI: K-S, Spearman, deletion AUC."""
    from ..analysis.attribution import attribution_comparison

    res = on_analysed_run(store, model, lambda st, m, r, a: attribution_comparison(
        st, r.run_id, mi_estimator=mi_estimator, seed=seed))
    if json_:
        print_json(res.to_dict())
        return
    for t in attribution_tables(res):
        console.print(t)

def prune_curve(
    model: Annotated[str, typer.Argument(help="Model id or run id (its newest analysed run).")],
    seeds: SeedsOpt = 5,
    plot: Annotated[bool, typer.Option("--plot", help="Draw the curves (PNG).")] = False,
    out: OutOpt = None,
    store: StoreOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Accuracy against hidden neurons removed: every importance order (default greedy_kl) against weight magnitude and random."""
    from ..analysis.pruning import prune_curve_for_model
    from ..config import default_out

    def work(st, m, r, a):  # the figure is drawn before the run is named: a failure stays one line
        res = prune_curve_for_model(st, r.run_id, seeds=seeds)
        mid = res.settings.get("model_id", "model")
        fig = plot_prune_curves(res, (out or default_out()) / f"{mid}_prune_curve.png", title=str(mid)) if plot else None
        return res, fig

    res, figure = on_analysed_run(store, model, work)
    if json_:
        d = res.to_dict()
        d["figure"] = str(figure) if figure else None
        print_json(d)
        return
    for t in prune_tables(res):
        console.print(t)
    if res.flagged:
        console.print(f"NIF-flagged neurons removed together: accuracy {res.accuracy_flagged:.4f}")
    if figure:
        console.print(f"figure: {figure}")


def agreement(
    run_a: Annotated[str, typer.Argument(help="First run id (or prefix, or model id: its newest run).")],
    run_b: Annotated[str, typer.Argument(help="Second run of the same model (another estimator or seed).")],
    alpha: Annotated[float, typer.Option("--alpha", help="An edge is significant when its q-value ≤ alpha.")] = 0.05,
    top: Annotated[int, typer.Option("--top", help="Flipping edges to list (largest value change first).")] = 20,
    store: StoreOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Spearman correlation of edge values, share of agreeing significance decisions, edges that flip."""
    from ..analysis.agreement import run_agreement

    with open_store_cli(store, read_only=True) as st:
        ag = run_agreement(st, run_a, run_b, alpha=alpha)
    if json_:
        print_json(ag.to_dict())
        return
    for item in agreement_report(ag, top):
        console.print(item)


def register(app: typer.Typer) -> None:
    app.command()(compare)
    app.command("attribution-compare")(attribution_compare)
    app.command("prune-curve")(prune_curve)
    app.command()(agreement)

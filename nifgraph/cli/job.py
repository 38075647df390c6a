"""The main job and its steps: ``run``, ``train``, ``estimate``, ``analyze``. Each command
parses its options (declared once in :mod:`.options`), calls :mod:`nifgraph.pipeline`, renders."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.text import Text

from .options import (
    AnalyzeOptions,
    AnalyzeSeedOpt,
    DataOptions,
    EstimateOptions,
    EstimateSeedOpt,
    HtmlOpt,
    InputShapeOpt,
    JsonOpt,
    ModelFileOpt,
    NameOpt,
    OutOpt,
    SeedOpt,
    StoreOpt,
    TrainOptions,
    TrainSeedOpt,
    TrustPickleOpt,
    bars,
    command,
    compile_notice,
    console,
    err_console,
    open_store_cli,
    parse_shape,
    print_json,
)

__all__ = ["run", "train", "estimate", "analyze", "register"]

def _print_all(items) -> None:
    for item in items:
        console.print(item)


def _report(model, run, analysis, neurons, json_: bool, top: int | None = None) -> None:
    """A run's summary as JSON, or its full report."""
    from ..render import tables

    if json_:
        print_json(tables.summary_dict(model, run, analysis, neurons))
        return
    _print_all(tables.full_report(model, run, analysis, neurons, top=top))


def _warn_run(run) -> None:
    for w in run.settings.get("warnings", []):
        err_console.print(Text.assemble(("Warning:", "yellow"), f" {w}"))


@command
def run(
    data: DataOptions,
    training: TrainOptions,
    estimation: EstimateOptions,
    analysis: AnalyzeOptions,
    seed: SeedOpt = 0,
    name: NameOpt = None,
    out: OutOpt = None,
    no_plot: Annotated[bool, typer.Option("--no-plot", help="Skip the figure.")] = False,
    html: HtmlOpt = False,
    store: StoreOpt = None,
    json_: JsonOpt = False,
) -> None:
    """The main job: train an MLP, estimate NIF on every edge, analyse, verify pruning, report."""
    t0 = time.perf_counter()
    ds = data.load(seed)  # first: a mistyped data set fails in a second, before torch is imported
    from ..config import default_out
    from ..pipeline import run_main_job
    from ..render import tables
    from ..render.figures import run_figures

    cfg, est, ana = training.config(seed), estimation.settings(seed), analysis.settings(seed)
    with open_store_cli(store, writes=True) as st:
        if not json_:
            compile_notice(est)
        with bars("train", f"NIF ({est.estimator})", enabled=not json_) as (on_train, on_est):
            res = run_main_job(
                st, ds, cfg, est, ana, name=name, csv=data.csv, target=data.target, on_train=on_train, on_estimate=on_est,
            )
        _warn_run(res.run)
        figures = [] if no_plot else run_figures(st, res.model, res.run, res.analysis, out or default_out(), html=html)
        neurons = st.get_neurons(res.model.model_id)
        if json_:
            d = tables.summary_dict(res.model, res.run, res.analysis, neurons)
            d["figures"] = [str(p) for p in figures]
            d["timings"] = {**res.timings, "total_s": time.perf_counter() - t0}
            d["store"] = st.uri
            print_json(d)
            return
        _print_all(tables.full_report(res.model, res.run, res.analysis, neurons))
        for p in figures:
            console.print(f"figure: {p}")
        console.print(f"store: {st.uri} · {time.perf_counter() - t0:.1f} s")


@command
def train(
    data: DataOptions,
    training: TrainOptions,
    seed: TrainSeedOpt = 0,
    model_file: ModelFileOpt = None,
    trust_pickle: TrustPickleOpt = False,
    input_shape: InputShapeOpt = None,
    name: NameOpt = None,
    store: StoreOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Train an MLP (Adam) or import a trained one (a CNN or residual network too, as a
    torch.export program); store it with its checkpoint."""
    shape = parse_shape(input_shape)
    if model_file is not None:
        training.refuse_with_model_file()
    ds = data.load(seed)  # first: a mistyped data set fails in a second, before torch is imported
    from ..pipeline import import_model, train_model

    with open_store_cli(store, writes=True) as st:
        if model_file is not None:
            model = import_model(
                st, str(model_file), ds, name=name, csv=data.csv, target=data.target, trust_pickle=trust_pickle,
                input_shape=shape,
            )
        else:
            cfg = training.config(seed)
            with bars("train", enabled=not json_) as (cb,):
                model, _ = train_model(st, ds, cfg, name=name, csv=data.csv, target=data.target, progress=cb)
    notes = list(model.meta.get("notes", []))
    if json_:
        print_json({"model_id": model.model_id, "name": model.name, "architecture": model.architecture,
                    "test_accuracy": model.test_accuracy, "train_accuracy": model.train_accuracy,
                    "checkpoint": model.meta.get("checkpoint"), "standardized": data.standardize, "notes": notes})
        return
    for note in notes:
        err_console.print(Text.assemble(("Note:", "yellow"), f" {note}"))
    console.print(Text.assemble(
        "model ", (model.model_id, "bold"), f" ({model.name}, {model.architecture}) · held-out accuracy "
        f"{model.test_accuracy:.4f} · train {model.train_accuracy:.4f}"
    ))


@command
def estimate(
    model: Annotated[str, typer.Argument(help="Model id (or unique prefix, or 'latest').")],
    estimation: EstimateOptions,
    seed: EstimateSeedOpt = 0,
    analyze: Annotated[bool, typer.Option("--analyze/--no-analyze", help="Analyse the run right away.")] = True,
    store: StoreOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Estimate NIF on every edge of a stored model (a new run)."""
    from ..pipeline import analyze_run, estimate_run
    from ..settings import AnalysisSettings

    est = estimation.settings(seed)
    with open_store_cli(store, writes=True) as st:
        m, _ = st.resolve(model)
        if not json_:
            compile_notice(est)
        with bars(f"NIF ({est.estimator})", enabled=not json_) as (cb,):
            run, _ = estimate_run(st, m.model_id, est, progress=cb)
        _warn_run(run)
        a = analyze_run(st, run.run_id, AnalysisSettings(seed=seed)) if analyze else None
        neurons = st.get_neurons(m.model_id)
    if not json_:
        console.print(Text.assemble("run ", (run.run_id, "bold"), f" of {m.model_id}: {run.estimator}, {run.n_samples} samples, estimated in {run.elapsed_s:.1f} s"))
    if json_ or a is not None:
        _report(m, run, a, neurons, json_, top=15)


@command
def analyze(
    ref: Annotated[str, typer.Argument(help="Run id, or model id (its newest run).")],
    analysis: AnalyzeOptions,
    seed: AnalyzeSeedOpt = 0,
    store: StoreOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Betweenness, Louvain communities, attribution, prunable neurons (verified) of a run."""
    from ..pipeline import analyze_run

    settings = analysis.settings(seed)
    with open_store_cli(store, writes=True) as st:
        m, r = st.need_run(ref)
        a = analyze_run(st, r.run_id, settings)
        neurons = st.get_neurons(m.model_id)
    _report(m, r, a, neurons, json_)


def register(app: typer.Typer) -> None:
    for fn in (run, train, estimate, analyze):
        app.command()(fn)

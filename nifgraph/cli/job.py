"""The main-job commands: run, train, estimate, analyze, models, show, prune, attribution,
plot, export, delete. Each parses options, calls :mod:`nifgraph.pipeline`, renders."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from ._common import JsonOpt, StoreOpt, console, err_console, open_store_cli, print_json

DatasetOpt = Annotated[str, typer.Option("--dataset", "-d", help="iris, wine, breast-cancer, digits or banknote.")]
CsvOpt = Annotated[str | None, typer.Option("--csv", help="Train on any CSV file instead (needs --target).")]
TargetOpt = Annotated[str | None, typer.Option("--target", help="Class column of the --csv file.")]
HiddenOpt = Annotated[str, typer.Option("--hidden", help="Hidden layer sizes, comma-separated, e.g. 5 or 5,5.")]
ActOpt = Annotated[str, typer.Option("--activation", help="relu, tanh, sigmoid or gelu (also leaky_relu, elu, silu, softplus).")]
DropoutOpt = Annotated[float, typer.Option("--dropout", help="Dropout after each hidden layer.")]
EpochsOpt = Annotated[int, typer.Option("--epochs", help="Training epochs.")]
LrOpt = Annotated[float, typer.Option("--lr", help="Adam learning rate.")]
BatchOpt = Annotated[int, typer.Option("--batch-size", help="Training batch size.")]
TestSizeOpt = Annotated[float, typer.Option("--test-size", help="Held-out share of the stratified split.")]
NameOpt = Annotated[str | None, typer.Option("--name", help="A name for the model.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seeds the split, training, estimation and Louvain.")]
EstOpt = Annotated[str, typer.Option("--estimator", "-e", help="MI estimator: mine (default), smile, ksg, gcmi, …")]
StepsOpt = Annotated[int | None, typer.Option("--steps", help="Training steps of neural MI estimators (default: the estimator's).")]
OptionOpt = Annotated[list[str] | None, typer.Option("--option", "-o", help="Extra estimator option KEY=VALUE (repeatable).")]
SplitOpt = Annotated[str, typer.Option("--split", help="Samples to estimate NIF on: all (default), train or test.")]
BetaOpt = Annotated[float, typer.Option("--beta", help="Redundancy weight β of the paper's Eq. 3 (0 = independent inputs).")]
VariantOpt = Annotated[str, typer.Option("--variant", help="pairwise: I(X_i;Q_k); layer: the paper's literal I(X;Q_k).")]
GammaOpt = Annotated[float, typer.Option("--gamma", help="Louvain resolution γ.")]
ThresholdOpt = Annotated[
    float | None,
    typer.Option("--threshold", help="NIF (nats) at or under which an edge carries no flow (prunable rule). Default 0.02, or 0 when edges are filtered by significance."),
]
EngineOpt = Annotated[str, typer.Option("--engine", help="auto, local (igraph) or gds (Neo4j Graph Data Science).")]
AlphaOpt = Annotated[
    float | None,
    typer.Option("--alpha", help="Keep only edges with BH q-value ≤ alpha. Default 0.05 for runs estimated with --null; 1 turns the filter off."),
]
NullOpt = Annotated[bool, typer.Option("--null/--no-null", help="Pooled permutation null: per-edge p- and BH q-values (docs/significance.md).")]
NullDrawsOpt = Annotated[int | None, typer.Option("--null-draws", help="Size of the pooled null (default 1000; smallest p = 1/(1+draws)).")]
BootstrapOpt = Annotated[int, typer.Option("--bootstrap", help="Half-samples (N/2 rows each) for a 95% interval per edge: 0 = none; 20+ advised; each re-estimates every edge.")]
BiasCorrectOpt = Annotated[bool, typer.Option("--bias-correct", help="Subtract the null mean from every edge (needs --null).")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Folder for figures and exports (default ./nifgraph-out or $NIFGRAPH_OUT).")]
DataHomeOpt = Annotated[str | None, typer.Option("--data-home", help="Cache folder for downloaded data sets (NIFGRAPH_DATA_HOME).")]


def _hidden(spec: str) -> tuple[int, ...]:
    from ..errors import ValidationError

    try:
        sizes = tuple(int(s) for s in spec.replace(" ", "").split(",") if s)
    except ValueError:
        raise ValidationError(f"--hidden must be comma-separated integers such as 5 or 64,32; got {spec!r}.") from None
    if not sizes or min(sizes) < 1:
        raise ValidationError(f"--hidden must list positive layer sizes; got {spec!r}.")
    return sizes


def _parse_options(items: list[str] | None, steps: int | None) -> dict[str, Any]:
    from ..errors import ValidationError

    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ValidationError(f"--option takes KEY=VALUE; got {item!r}.")
        k, v = item.split("=", 1)
        val: Any = v
        for conv in (int, float):
            try:
                val = conv(v)
                break
            except ValueError:
                continue
        if v.lower() in ("true", "false"):
            val = v.lower() == "true"
        out[k.strip().replace("-", "_")] = val
    if steps is not None:
        out["steps"] = steps
    return out


@contextmanager
def _bars(*descriptions: str, enabled: bool = True):
    """Rich progress bars on stderr (one display, one row per step, in order); yields one
    ``progress(done, total)`` callback per description (``None`` when disabled)."""
    if not enabled:
        yield [None] * len(descriptions)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err_console, transient=False,
    ) as prog:
        callbacks = []
        for description in descriptions:
            task = prog.add_task(description, total=None)

            def cb(done: int, total: int, _task=task) -> None:
                prog.update(_task, completed=done, total=total)

            callbacks.append(cb)
        yield callbacks


@contextmanager
def _bar(description: str, enabled: bool = True):
    with _bars(description, enabled=enabled) as (cb,):
        yield cb


def _train_config(hidden, activation, dropout, epochs, lr, batch_size, seed):
    from ..network import TrainConfig

    return TrainConfig(
        hidden=_hidden(hidden), activation=activation, dropout=dropout, epochs=epochs, lr=lr,
        batch_size=batch_size, seed=seed,
    ).validate()


def _dataset(dataset, csv, target, seed, test_size, data_home):
    from ..data import load_dataset

    return load_dataset(dataset, csv=csv, target=target, seed=seed, test_size=test_size, data_dir=data_home)


def _figure(store, model, run, analysis, out: Path, html: bool = False) -> list[Path]:
    from ..render import figures as plot
    from ..stored import load_model_network, model_dataset

    edges = store.get_edges(run.run_id)
    neurons = store.get_neurons(model.model_id)
    names = [
        neurons[neurons["layer"] == layer].sort_values("idx")["name"].astype(str).tolist()
        for layer in range(model.n_layers)
    ]
    ds = model_dataset(model)
    acts = load_model_network(model).forward_layers(ds.split(run.split)[0])
    stem = out / f"{model.model_id}_{run.run_id}"
    title = f"{model.name} · NIF ({run.estimator}) · acc {model.test_accuracy:.3f}"
    paths = plot.plot_flow(
        model.layer_sizes, edges, analysis.neuron_metrics, names=names, activations=acts, title=title, path_stem=stem
    )
    if html:
        paths.append(
            plot.write_html(model.layer_sizes, edges, analysis.neuron_metrics, names=names, path=stem.with_suffix(".html"), title=title)
        )
    return list(paths)


def _render_full(store, model, run, analysis, *, top: int | None = None) -> None:
    from ..render import tables as report

    neurons = store.get_neurons(model.model_id)
    console.print(report.header_table(model, run, analysis))
    if analysis is None:
        console.print("[yellow]No analysis yet:[/] run `nifgraph analyze " + (run.run_id if run else model.model_id) + "`.")
        return
    console.print(report.neuron_table(model, analysis, neurons, top=top))
    console.print(report.attribution_table(model, analysis))
    if analysis.prunable:
        console.print(report.prune_table(model, analysis, neurons))


def register(app: typer.Typer) -> None:  # noqa: C901 - one function registering thin commands
    @app.command()
    def run(
        dataset: DatasetOpt = "iris",
        csv: CsvOpt = None,
        target: TargetOpt = None,
        hidden: HiddenOpt = "5",
        activation: ActOpt = "relu",
        dropout: DropoutOpt = 0.0,
        epochs: EpochsOpt = 200,
        lr: LrOpt = 0.01,
        batch_size: BatchOpt = 16,
        test_size: TestSizeOpt = 0.3,
        seed: SeedOpt = 0,
        estimator: EstOpt = "mine",
        steps: StepsOpt = None,
        option: OptionOpt = None,
        split: SplitOpt = "all",
        beta: BetaOpt = 0.0,
        variant: VariantOpt = "pairwise",
        gamma: GammaOpt = 1.0,
        threshold: ThresholdOpt = None,
        null: NullOpt = False,
        null_draws: NullDrawsOpt = None,
        bootstrap: BootstrapOpt = 0,
        bias_correct: BiasCorrectOpt = False,
        name: NameOpt = None,
        out: OutOpt = None,
        no_plot: Annotated[bool, typer.Option("--no-plot", help="Skip the figure.")] = False,
        html: Annotated[bool, typer.Option("--html", help="Also write the interactive HTML graph.")] = False,
        data_home: DataHomeOpt = None,
        store: StoreOpt = None,
        json_: JsonOpt = False,
    ) -> None:
        """The main job: train an MLP, estimate NIF on every edge, analyse, verify pruning, report."""
        import time

        from ..config import default_out
        from ..pipeline import run_main_job
        from ..render import tables as report
        from ..settings import AnalysisSettings

        t0 = time.perf_counter()
        from ..settings import EstimationSettings

        cfg = _train_config(hidden, activation, dropout, epochs, lr, batch_size, seed)
        est = EstimationSettings.build(
            estimator, split=split, seed=seed, beta=beta, variant=variant, options=_parse_options(option, steps),
            null=null, null_draws=null_draws, bootstrap=bootstrap, bias_correct=bias_correct,
        )
        ana = AnalysisSettings(gamma=gamma, threshold=threshold, seed=seed).validate()
        ds = _dataset(dataset, csv, target, seed, test_size, data_home)
        with open_store_cli(store) as st:
            with _bars("train", f"NIF ({estimator})", enabled=not json_) as (on_train, on_est):
                res = run_main_job(
                    st, ds, cfg, est, ana, name=name, csv=csv, target=target, on_train=on_train, on_estimate=on_est,
                )
            figures: list[Path] = []
            if not no_plot:
                figures = _figure(st, res.model, res.run, res.analysis, out or default_out(), html=html)
            neurons = st.get_neurons(res.model.model_id)
            if json_:
                d = report.summary_dict(res.model, res.run, res.analysis, neurons)
                d["figures"] = [str(p) for p in figures]
                d["timings"] = {**res.timings, "total_s": time.perf_counter() - t0}
                d["store"] = st.uri
                print_json(d)
                return
            _render_full(st, res.model, res.run, res.analysis)
            for p in figures:
                console.print(f"figure: {p}")
            console.print(f"store: {st.uri} · {time.perf_counter() - t0:.1f} s")

    @app.command()
    def train(
        dataset: DatasetOpt = "iris",
        csv: CsvOpt = None,
        target: TargetOpt = None,
        hidden: HiddenOpt = "5",
        activation: ActOpt = "relu",
        dropout: DropoutOpt = 0.0,
        epochs: EpochsOpt = 200,
        lr: LrOpt = 0.01,
        batch_size: BatchOpt = 16,
        test_size: TestSizeOpt = 0.3,
        seed: SeedOpt = 0,
        model_file: Annotated[
            Path | None,
            typer.Option("--model-file", help="Import your own trained nn.Sequential (torch.save or TorchScript) instead of training."),
        ] = None,
        name: NameOpt = None,
        data_home: DataHomeOpt = None,
        store: StoreOpt = None,
        json_: JsonOpt = False,
    ) -> None:
        """Train an MLP (Adam) or import a trained one; store it with its checkpoint."""
        from ..pipeline import import_model, train_model

        ds = _dataset(dataset, csv, target, seed, test_size, data_home)
        with open_store_cli(store) as st:
            if model_file is not None:
                model = import_model(st, str(model_file), ds, name=name, csv=csv, target=target)
            else:
                cfg = _train_config(hidden, activation, dropout, epochs, lr, batch_size, seed)
                with _bar("train", not json_) as cb:
                    model, _ = train_model(st, ds, cfg, name=name, csv=csv, target=target, progress=cb)
        if json_:
            print_json({"model_id": model.model_id, "name": model.name, "architecture": model.architecture,
                        "test_accuracy": model.test_accuracy, "train_accuracy": model.train_accuracy,
                        "checkpoint": model.meta.get("checkpoint")})
            return
        console.print(
            f"model [bold]{model.model_id}[/] ({model.name}, {model.architecture}) · held-out accuracy "
            f"{model.test_accuracy:.4f} · train {model.train_accuracy:.4f}"
        )

    @app.command()
    def estimate(
        model: Annotated[str, typer.Argument(help="Model id (or unique prefix, or 'latest').")],
        estimator: EstOpt = "mine",
        steps: StepsOpt = None,
        option: OptionOpt = None,
        split: SplitOpt = "all",
        beta: BetaOpt = 0.0,
        variant: VariantOpt = "pairwise",
        seed: SeedOpt = 0,
        null: NullOpt = False,
        null_draws: NullDrawsOpt = None,
        bootstrap: BootstrapOpt = 0,
        bias_correct: BiasCorrectOpt = False,
        analyze: Annotated[bool, typer.Option("--analyze/--no-analyze", help="Analyse the run right away.")] = True,
        store: StoreOpt = None,
        json_: JsonOpt = False,
    ) -> None:
        """Estimate NIF on every edge of a stored model (a new run)."""
        from ..pipeline import analyze_run, estimate_run
        from ..settings import AnalysisSettings, EstimationSettings

        est = EstimationSettings.build(
            estimator, split=split, seed=seed, beta=beta, variant=variant, options=_parse_options(option, steps),
            null=null, null_draws=null_draws, bootstrap=bootstrap, bias_correct=bias_correct,
        )
        with open_store_cli(store) as st:
            m, _ = st.resolve(model)
            with _bar(f"NIF ({estimator})", not json_) as cb:
                run, _ = estimate_run(st, m.model_id, est, progress=cb)
            a = analyze_run(st, run.run_id, AnalysisSettings(seed=seed)) if analyze else None
            if json_:
                from ..render import tables as report

                print_json(report.summary_dict(m, run, a, st.get_neurons(m.model_id)))
                return
            console.print(f"run [bold]{run.run_id}[/] of {m.model_id}: {run.estimator}, {run.n_samples} samples, {run.elapsed_s:.1f} s")
            if a is not None:
                _render_full(st, m, run, a, top=15)

    @app.command()
    def analyze(
        ref: Annotated[str, typer.Argument(help="Run id, or model id (its newest run).")],
        gamma: GammaOpt = 1.0,
        threshold: ThresholdOpt = None,
        engine: EngineOpt = "auto",
        alpha: AlphaOpt = None,
        seed: SeedOpt = 0,
        store: StoreOpt = None,
        json_: JsonOpt = False,
    ) -> None:
        """Betweenness, Louvain communities, attribution, prunable neurons (verified) of a run."""
        from ..pipeline import analyze_run
        from ..render import tables as report
        from ..settings import AnalysisSettings

        with open_store_cli(store) as st:
            m, r = _need_run(st, ref)
            a = analyze_run(st, r.run_id, AnalysisSettings(gamma=gamma, threshold=threshold, alpha=alpha, seed=seed, engine=engine))
            if json_:
                print_json(report.summary_dict(m, r, a, st.get_neurons(m.model_id)))
                return
            _render_full(st, m, r, a)

    @app.command()
    def models(store: StoreOpt = None, json_: JsonOpt = False) -> None:
        """List stored models with accuracy, runs and prunable counts."""
        from ..render import tables as report

        rows = []
        with open_store_cli(store, read_only=True) as st:
            for m in st.list_models():
                runs = st.list_runs(m.model_id)
                a = st.get_analysis(runs[-1].run_id) if runs else None
                rows.append(dict(
                    model_id=m.model_id, name=m.name, dataset=m.dataset, architecture=m.architecture,
                    activation=",".join(sorted(set(m.activations) - {"identity"})) or "identity",
                    test_accuracy=m.test_accuracy, runs=len(runs), run_ids=[r.run_id for r in runs],
                    prunable=None if a is None else len(a.prunable), hidden=sum(m.layer_sizes[1:-1]),
                    created_at=m.created_at,
                ))
        if json_:
            print_json(rows)
            return
        if not rows:
            console.print("No models stored yet: run `nifgraph run`.")
            return
        console.print(report.models_table(rows))

    @app.command()
    def show(
        ref: Annotated[str, typer.Argument(help="Model id, run id, or 'latest'.")],
        top: Annotated[int | None, typer.Option(help="Show only the N most central neurons.")] = None,
        store: StoreOpt = None,
        json_: JsonOpt = False,
    ) -> None:
        """Full report of a model (its newest run) or of one run."""
        from ..errors import ValidationError
        from ..render import tables as report

        if top is not None and top < 1:
            raise ValidationError(f"--top must be a positive number of neurons; got {top}.")
        with open_store_cli(store, read_only=True) as st:
            m, r = st.resolve(ref)
            a = st.get_analysis(r.run_id) if r else None
            if json_:
                print_json(report.summary_dict(m, r, a, st.get_neurons(m.model_id)))
                return
            _render_full(st, m, r, a, top=top)

    @app.command()
    def prune(
        ref: Annotated[str, typer.Argument(help="Model id or run id.")],
        threshold: ThresholdOpt = None,
        alpha: AlphaOpt = None,
        curve: Annotated[bool, typer.Option("--curve", help="Accuracy vs neurons removed: NIF vs magnitude vs random orders.")] = False,
        seeds: Annotated[int, typer.Option("--seeds", help="With --curve: random orders / tie-breaks averaged.")] = 5,
        store: StoreOpt = None,
        json_: JsonOpt = False,
    ) -> None:
        """Flag prunable neurons and verify: zero them and re-measure held-out accuracy.
        With --curve: pruning curves of NIF-guided, magnitude and random orders."""
        from ..pipeline import analyze_run
        from ..render import tables as report
        from ..settings import AnalysisSettings

        if curve:
            from ..analysis.pruning import prune_curve_for_model
            from .compare import prune_tables

            with open_store_cli(store, read_only=True) as st:
                res = prune_curve_for_model(st, ref, seeds=seeds)
            if json_:
                print_json(res.to_dict())
                return
            for t in prune_tables(res):
                console.print(t)
            return
        with open_store_cli(store) as st:
            m, r = _need_run(st, ref)
            prev = st.get_analysis(r.run_id)
            a = analyze_run(st, r.run_id, AnalysisSettings(
                threshold=threshold, alpha=alpha,
                gamma=prev.gamma if prev else 1.0, seed=int(prev.settings.get("seed", 0)) if prev else 0,
            ))
            neurons = st.get_neurons(m.model_id)
            if json_:
                d = report.summary_dict(m, r, a, neurons)
                print_json({k: d[k] for k in ("model_id", "run_id", "threshold", "prunable", "accuracy_before", "accuracy_after")})
                return
            console.print(report.prune_table(m, a, neurons) if a.prunable else "No prunable neuron at this threshold.")
            console.print(f"held-out accuracy: {a.accuracy_before:.4f} before → {a.accuracy_after:.4f} after removing {len(a.prunable)} neuron(s)")

    @app.command()
    def attribution(
        ref: Annotated[str, typer.Argument(help="Model id or run id.")],
        compare: Annotated[bool, typer.Option("--compare", help="Compare with SHAP, Integrated Gradients and raw MI.")] = False,
        store: StoreOpt = None,
        json_: JsonOpt = False,
    ) -> None:
        """Feature attribution: Σ over all paths of the product of NIF, per feature and class.
        With --compare: against SHAP, Integrated Gradients and raw MI (K-S, Spearman, deletion)."""
        from ..render import tables as report

        with open_store_cli(store, read_only=True) as st:
            if compare:
                from ..analysis.attribution import attribution_comparison
                from .compare import attribution_tables

                res = attribution_comparison(st, ref, seed=0)
                if json_:
                    print_json(res.to_dict())
                    return
                for t in attribution_tables(res):
                    console.print(t)
                return
            m, r = _need_run(st, ref)
            a = _need_analysis(st, r)
            if json_:
                print_json(report.summary_dict(m, r, a, st.get_neurons(m.model_id))["attribution"])
                return
            console.print(report.attribution_table(m, a))

    @app.command()
    def plot(
        ref: Annotated[str, typer.Argument(help="Model id or run id.")],
        out: OutOpt = None,
        html: Annotated[bool, typer.Option("--html", help="Also write an interactive HTML graph.")] = False,
        store: StoreOpt = None,
        json_: JsonOpt = False,
    ) -> None:
        """Figure of the NIF graph (size = betweenness, colour = community, width = NIF) and activations, PNG + SVG."""
        from ..config import default_out

        with open_store_cli(store, read_only=True) as st:
            m, r = _need_run(st, ref)
            a = _need_analysis(st, r)
            paths = _figure(st, m, r, a, out or default_out(), html=html)
        if json_:
            print_json([str(p) for p in paths])
            return
        for p in paths:
            console.print(f"wrote {p}")

    @app.command()
    def export(
        ref: Annotated[str, typer.Argument(help="Model id or run id.")],
        out: OutOpt = None,
        fmt: Annotated[str, typer.Option("--format", help="parquet, csv or both.")] = "both",
        store: StoreOpt = None,
        json_: JsonOpt = False,
    ) -> None:
        """Export a run's nodes (neurons + metrics) and edges as Parquet and/or CSV."""
        from ..config import default_out
        from ..errors import ValidationError

        if fmt not in ("parquet", "csv", "both"):
            raise ValidationError(f"--format must be parquet, csv or both; got {fmt!r}.")
        folder = out or default_out()
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        with open_store_cli(store, read_only=True) as st:
            m, r = _need_run(st, ref)
            nodes = st.get_neurons(m.model_id)
            a = st.get_analysis(r.run_id)
            if a is not None:
                nodes = nodes.merge(a.neuron_metrics, on=["layer", "idx"], how="left")
            edges = st.get_edges(r.run_id).assign(model_id=m.model_id)
            for label, frame in (("nodes", nodes), ("edges", edges)):
                stem = folder / f"{r.run_id}_{label}"
                if fmt in ("parquet", "both"):
                    frame.to_parquet(stem.with_suffix(".parquet"), index=False)
                    written.append(stem.with_suffix(".parquet"))
                if fmt in ("csv", "both"):
                    frame.to_csv(stem.with_suffix(".csv"), index=False)
                    written.append(stem.with_suffix(".csv"))
        if json_:
            print_json([str(p) for p in written])
            return
        for p in written:
            console.print(f"wrote {p}")

    @app.command()
    def delete(
        model: Annotated[str, typer.Argument(help="Model id (or unique prefix, name, or 'latest') to delete with all its runs.")],
        yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
        store: StoreOpt = None,
    ) -> None:
        """Delete a stored model with its runs and analyses."""
        from ..errors import ValidationError

        with open_store_cli(store) as st:
            m, _ = st.resolve(model)
            ref = model.strip()
            if ref != "latest" and not (m.model_id.startswith(ref) or m.name == ref):
                raise ValidationError(
                    f"{ref!r} is a run of model {m.model_id}; delete takes a model id — "
                    f"run `nifgraph delete {m.model_id}` to delete the model with all its runs."
                )
            if not yes and not typer.confirm(f"Delete model {m.model_id} ({m.name}) and its runs?"):
                raise typer.Exit(1)
            st.delete_model(m.model_id)
        console.print(f"deleted {m.model_id}")


def _need_run(st, ref: str):
    from ..errors import NotFoundError

    m, r = st.resolve(ref)
    if r is None:
        raise NotFoundError(f"Model {m.model_id} has no NIF run yet; run `nifgraph estimate {m.model_id}` first.")
    return m, r


def _need_analysis(st, r):
    from ..errors import NotFoundError

    a = st.get_analysis(r.run_id)
    if a is None:
        raise NotFoundError(f"Run {r.run_id} has no analysis yet; run `nifgraph analyze {r.run_id}` first.")
    return a

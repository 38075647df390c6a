"""Comparison commands: ``compare`` (stored models side by side), ``attribution-compare``
(NIF attribution against SHAP, IG and raw MI) and ``prune-curve`` (accuracy against neurons
removed, NIF-guided against magnitude and random). Thin: parse, call
:mod:`nifgraph.analysis.attribution` / :mod:`nifgraph.analysis.pruning`, render."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ._common import JsonOpt, StoreOpt, console, open_store_cli, print_json

OutOpt = Annotated[Path | None, typer.Option("--out", help="Folder for figures (default ./nifgraph-out or $NIFGRAPH_OUT).")]


def _f(v: Any, nd: int = 3) -> str:
    try:
        fv = float(v)
    except (TypeError, ValueError):
        return str(v)
    return "—" if fv != fv else f"{fv:.{nd}f}"


def comparison_tables(res: Any) -> list[Any]:
    """Rich tables of a :class:`~nifgraph.analysis.attribution.ModelComparison`."""
    from rich.table import Table

    t = Table(title="Stored models side by side", title_justify="left")
    cols = ("model", "name", "data", "arch", "act", "test acc", "params", "prunable", "communities",
            "modularity", "flow top10%", "top features per class")
    for c in cols:
        t.add_column(c, justify="left" if c in ("model", "name", "data", "arch", "act", "top features per class") else "right",
                     no_wrap=c == "model")  # ids are copied into the next command: never cut them
    for s in res.summaries:
        t.add_row(
            s.model_id, s.name, s.dataset, s.architecture, s.activation, _f(s.test_accuracy, 4), str(s.n_params),
            f"{s.fraction_prunable:.0%}", str(s.n_communities), _f(s.modularity), _f(s.flow_concentration),
            "; ".join(f"{c}: {', '.join(f)}" for c, f in s.top_features.items()),
        )
    out = [t]
    if len(res.agreement):
        a = Table(title="Rank agreement of NIF attributions (features × classes, same data set)", title_justify="left")
        for c in ("model A", "model B", "data", "Spearman ρ", "p", "Kendall τ", "p"):
            a.add_column(c, justify="left" if c in ("model A", "model B", "data") else "right")
        for r in res.agreement.itertuples():
            a.add_row(r.model_a, r.model_b, r.dataset, _f(r.spearman), _f(r.spearman_p), _f(r.kendall), _f(r.kendall_p))
        out.append(a)
    return out


def attribution_tables(res: Any) -> list[Any]:
    """Rich tables of an :class:`~nifgraph.analysis.attribution.AttributionComparison`."""
    from rich.table import Table

    norm = res.normalized
    m = Table(title="Attributions, each class normalised to sum 1", title_justify="left")
    m.add_column("class")
    m.add_column("feature")
    for name in norm:
        m.add_column(name, justify="right")
    for j, cn in enumerate(res.class_names):
        for i, fn in enumerate(res.feature_names):
            m.add_row(str(cn) if i == 0 else "", str(fn), *[_f(norm[k][i, j]) for k in norm])
    s = Table(
        title="Agreement with raw MI (K-S: small statistic / large p = alike) and deletion AUC (lower = better)",
        title_justify="left",
    )
    for c in ("method", "K-S D", "K-S p", "Spearman ρ", "p", "ρ per class", "deletion AUC", "AUC per class"):
        s.add_column(c, justify="left" if c == "method" else "right")
    for r in res.table().itertuples():
        s.add_row(r.method, _f(r.ks_statistic), _f(r.ks_p), _f(r.spearman_rho), _f(r.spearman_p),
                  _f(r.spearman_per_class), _f(r.deletion_auc), _f(r.deletion_auc_class))
    return [m, s]


def prune_tables(res: Any) -> list[Any]:
    """Rich tables of a :class:`~nifgraph.analysis.pruning.PruneCurves`."""
    from rich.table import Table

    t = Table(title=f"Held-out accuracy after removing k of {res.n_hidden} hidden neurons (mean over {res.seeds} seeds)",
              title_justify="left")
    t.add_column("k", justify="right")
    for m in res.accuracy:
        t.add_column(m, justify="right")
    means = {m: res.mean(m) for m in res.accuracy}
    for i, k in enumerate(res.ks):
        t.add_row(str(int(k)), *[_f(means[m][i]) for m in res.accuracy])
    s = Table(title="Summary (AUC: mean accuracy over the curve; removable: neurons removed within 1 point)",
              title_justify="left")
    for c in ("method", "AUC", "removable"):
        s.add_column(c, justify="left" if c == "method" else "right")
    for r in res.summary().itertuples():
        s.add_row(r.method, _f(r.auc), _f(r.removable_1pt, 1))
    return [t, s]


def plot_attributions(summaries: Any, path: Path) -> Path:
    """Heat maps of the NIF attributions of several models side by side (PNG)."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from ..analysis.attribution import normalize_columns

    n = len(summaries)
    fig = Figure(figsize=(3.2 * n + 0.5, 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, s in zip(axes, summaries, strict=True):
        a = normalize_columns(s.attribution)
        im = ax.imshow(a, cmap="viridis", vmin=0, vmax=1, aspect="auto")
        ax.set_title(f"{s.name}\n{s.architecture} · acc {s.test_accuracy:.3f}", fontsize=8)
        ax.set_xticks(np.arange(a.shape[1]))
        ax.set_xticklabels(list(s.top_features), fontsize=6, rotation=45)
        if a.shape[0] <= 30:  # feature names as row labels
            ax.set_yticks(np.arange(a.shape[0]))
            if len(s.feature_names) == a.shape[0]:
                ax.set_yticklabels(list(s.feature_names))
        else:  # many features (digits: 64): every k-th index, not an overlapping column of numbers
            ax.set_yticks(np.arange(0, a.shape[0], -(-a.shape[0] // 16)))
        ax.tick_params(labelsize=6)
    fig.colorbar(im, ax=list(axes), shrink=0.8, label="NIF attribution (class sums to 1)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    return path


def plot_prune_curves(res: Any, path: Path, title: str = "") -> Path:
    """Accuracy against neurons removed, one line per method (mean ± sd over seeds), PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 3.8), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for m, acc in res.accuracy.items():
        mean, sd = acc.mean(axis=0), acc.std(axis=0)
        ax.plot(res.ks, mean, marker="o", ms=3, label=m)
        ax.fill_between(res.ks, mean - sd, mean + sd, alpha=0.15)
    ax.set_xlabel("hidden neurons removed")
    ax.set_ylabel("held-out accuracy")
    ax.set_title(title or f"pruning curves ({res.seeds} seeds)", fontsize=9)
    ax.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    return path


def register(app: typer.Typer) -> None:
    @app.command()
    def compare(
        models: Annotated[list[str] | None, typer.Argument(help="Model ids (or unique prefixes / names).")] = None,
        all_: Annotated[bool, typer.Option("--all", help="Compare every stored model.")] = False,
        dataset: Annotated[str | None, typer.Option("--dataset", "-d", help="Compare every stored model of this data set.")] = None,
        plot: Annotated[bool, typer.Option("--plot", help="Draw the attributions side by side (PNG).")] = False,
        out: OutOpt = None,
        store: StoreOpt = None,
        json_: JsonOpt = False,
    ) -> None:
        """Stored models side by side: accuracy, size, prunable share, communities, flow concentration,
        top features, and the rank agreement of their attributions."""
        from ..analysis.summaries import compare_models
        from ..config import default_out
        from ..errors import ValidationError

        with open_store_cli(store, read_only=True) as st:
            refs = list(models or [])
            if all_ or dataset:
                chosen = [m for m in st.list_models() if not dataset or m.dataset == dataset.strip().lower()]
                analysed = [m.model_id for m in chosen if any(st.get_analysis(r.run_id) for r in st.list_runs(m.model_id)[-1:])]
                refs += analysed
            if not refs:
                raise ValidationError("No model to compare: name models, or use --all or --dataset NAME (models need an analysed run).")
            res = compare_models(st, refs)
        figure = None
        if plot:
            figure = plot_attributions(res.summaries, (out or default_out()) / "compare_attributions.png")
        if json_:
            d = res.to_dict()
            d["figure"] = str(figure) if figure else None
            print_json(d)
            return
        for t in comparison_tables(res):
            console.print(t)
        if figure:
            console.print(f"figure: {figure}")

    @app.command("attribution-compare")
    def attribution_compare(
        model: Annotated[str, typer.Argument(help="Model id or run id (its newest analysed run).")],
        mi_estimator: Annotated[str, typer.Option("--mi-estimator", help="Estimator of the raw MI baseline.")] = "ksg",
        seed: Annotated[int, typer.Option("--seed", help="Seeds the SHAP background sample and random orders.")] = 0,
        store: StoreOpt = None,
        json_: JsonOpt = False,
    ) -> None:
        """NIF attribution against SHAP, Integrated Gradients and raw MI: K-S, Spearman, deletion AUC."""
        from ..analysis.attribution import attribution_comparison

        with open_store_cli(store, read_only=True) as st:
            res = attribution_comparison(st, model, mi_estimator=mi_estimator, seed=seed)
        if json_:
            print_json(res.to_dict())
            return
        for t in attribution_tables(res):
            console.print(t)

    @app.command("prune-curve")
    def prune_curve(
        model: Annotated[str, typer.Argument(help="Model id or run id (its newest analysed run).")],
        seeds: Annotated[int, typer.Option("--seeds", help="Random orders / tie-breaks averaged.")] = 5,
        plot: Annotated[bool, typer.Option("--plot", help="Draw the curves (PNG).")] = False,
        out: OutOpt = None,
        store: StoreOpt = None,
        json_: JsonOpt = False,
    ) -> None:
        """Accuracy against hidden neurons removed: NIF flow, betweenness, weight magnitude, random."""
        from ..analysis.pruning import prune_curve_for_model
        from ..config import default_out

        with open_store_cli(store, read_only=True) as st:
            res = prune_curve_for_model(st, model, seeds=seeds)
        figure = None
        if plot:
            mid = res.settings.get("model_id", "model")
            figure = plot_prune_curves(res, (out or default_out()) / f"{mid}_prune_curve.png", title=str(mid))
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

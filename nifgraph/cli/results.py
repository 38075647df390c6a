"""Commands on stored results: ``models``, ``show``, ``prune``, ``attribution``, ``plot``,
``export``, ``delete``. Each parses, calls the library, renders."""

from __future__ import annotations

from typing import Annotated

import typer

from ..settings import DEFAULT_TOLERANCE
from .options import (
    AlphaOpt,
    HtmlOpt,
    JsonOpt,
    ModelArg,
    OutOpt,
    SeedsOpt,
    StoreOpt,
    ThresholdOpt,
    ToleranceOpt,
    console,
    open_store_cli,
    print_json,
    report_written,
)
from .runs import names_run, on_analysed_run, run_note, say

__all__ = ["models", "show", "prune", "attribution", "plot", "export", "delete", "register"]


def models(store: StoreOpt = None, json_: JsonOpt = False) -> None:
    """List stored models with accuracy, runs and prunable counts."""
    from ..render import tables

    with open_store_cli(store, read_only=True) as st:
        rows = tables.model_rows(st)
    if json_:
        print_json(rows)
        return
    if not rows:
        console.print("No models stored yet: run `nifgraph run`.")
        return
    console.print(tables.models_table(rows))


def show(
    ref: Annotated[str, typer.Argument(help="Model id, run id, or 'latest'.")],
    top: Annotated[int | None, typer.Option(help="Show only the N most central neurons.")] = None,
    store: StoreOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Full report of a model (its newest run) or of one run."""
    from ..errors import ValidationError
    from ..render import tables

    if top is not None and top < 1:
        raise ValidationError(f"--top must be a positive number of neurons; got {top}.")
    with open_store_cli(store, read_only=True) as st:
        m, r = st.resolve(ref)
        if r is not None:  # a model (or latest): its newest analysed run, else its newest run
            if not names_run(ref, r.run_id):
                m, r = st.need_run(m.model_id, prefer_analysed=True)
            say(run_note(st, ref if names_run(ref, r.run_id) else m.model_id, m, r))
        a = st.get_analysis(r.run_id) if r else None
        neurons = st.get_neurons(m.model_id)
        if json_:
            print_json(tables.summary_dict(m, r, a, neurons))
            return
        for item in tables.full_report(m, r, a, neurons, top=top):
            console.print(item)


def prune(
    ref: ModelArg,
    threshold: ThresholdOpt = None,
    alpha: AlphaOpt = None,
    tolerance: ToleranceOpt = DEFAULT_TOLERANCE,
    curve: Annotated[bool, typer.Option("--curve", help="Accuracy vs neurons removed for every importance order (default greedy_kl; std_wout, mi_output, nif, betweenness) against magnitude and random.")] = False,
    seeds: SeedsOpt = 5,
    save: Annotated[str | None, typer.Option("--save", help="Also write the recommended pruning as a torch.export program (e.g. pruned.pt2): a smaller network: the removed units cut out (a DAG model keeps, overwritten by their constants, the units a residual add or cat also reads); checked to reproduce the verified accuracy.")] = None,
    store: StoreOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Pruning you can act on: neurons with no information in or out are candidates; removing
    them (mean folded into the next bias; inside the graph for a DAG model) is verified on held-out data, and only a set within
    --tolerance is recommended. Re-analyses the run and stores the result (it becomes the
    analysis `show` reports). With --curve (read-only): accuracy against neurons removed for
    every importance order (default greedy_kl) against magnitude and random."""
    from ..errors import ValidationError
    from ..pipeline import analyze_run
    from ..render import tables
    from ..settings import AnalysisSettings

    if curve and save is not None:
        raise ValidationError("--save writes the verified recommendation; run it without --curve.")
    if save is not None:
        from ..analysis.recommend import check_save_path

        check_save_path(save)
    if curve:
        from ..analysis.pruning import prune_curve_for_model
        from ..render.comparisons import prune_tables

        res, (model_id, run_id) = on_analysed_run(
            store, ref, lambda st, m, r, a: (prune_curve_for_model(st, r.run_id, seeds=seeds), (m.model_id, r.run_id)))
        if json_:
            print_json({"model_id": model_id, "run_id": run_id, **res.to_dict()})
            return
        for t in prune_tables(res):
            console.print(t)
        return
    with open_store_cli(store, writes=True) as st:
        m, r = st.need_run(ref, prefer_analysed=True)
        note = run_note(st, ref, m, r)
        prev = st.get_analysis(r.run_id)
        loaded = {}  # --save reads the network and the split the analysis reads: load them once
        if save is not None:
            from ..stored import load_model_network, model_dataset

            loaded = {"network": load_model_network(m, st), "dataset": model_dataset(m)}
        a = analyze_run(st, r.run_id, AnalysisSettings(
            threshold=threshold, alpha=alpha, tolerance=tolerance,
            gamma=prev.gamma if prev else 1.0, seed=int(prev.settings.get("seed", 0)) if prev else 0,
        ), **loaded)
        neurons = st.get_neurons(m.model_id)
        saved = None
        if save is not None:
            from ..analysis.recommend import save_pruned

            saved = save_pruned(st, m, a, save, **loaded)
        say(note)
        if json_:
            d = tables.summary_dict(m, r, a, neurons)
            out = {k: d[k] for k in ("model_id", "run_id", "threshold", "prunable", "accuracy_before", "accuracy_after", "pruning")}
            print_json({**out, **({"saved": saved} if saved else {})})
            return
        if a.prunable or bool(a.neuron_metrics["candidate"].any()):
            console.print(tables.prune_table(m, a, neurons))
        else:
            flagged = len((a.settings.get("pruning") or {}).get("flagged_by_flow", []))
            console.print(
                f"No pruning candidate: {flagged} neuron(s) had no edge above the threshold, but each carries "
                "information about its input or output layer (unit-level test)." if flagged
                else "No pruning candidate: every hidden neuron passes information."
            )
        console.print(f"held-out accuracy: {a.accuracy_before:.4f} before → {a.accuracy_after:.4f} after removing {len(a.prunable)} neuron(s)")
        if saved:
            n_masked = sum(not u["cut"] for u in saved["removed"])
            shape = f"{saved['architecture_before']} → {saved['architecture_after']}, " if saved["form"] != "masked" else ""
            shape += f"{saved['parameters_before']:,} → {saved['parameters_after']:,} parameters"
            if saved.get("also_cut"):
                shape += f"; {len(saved['also_cut'])} depthwise channel(s) cut with the channels they read"
            if n_masked:
                why = "; ".join(f"layer {m['layer']}: {m['why']}" for m in saved["masked_layers"])
                shape += f"; {n_masked} unit(s) kept in place, overwritten by their constants ({why})"
            console.print(
                f"saved {saved['path']}: {shape}, held-out accuracy {saved['accuracy_after']:.4f} (as verified); load it "
                f"with torch.export.load(path).module(); inputs of shape (N, {', '.join(map(str, saved['input_shape']))}): "
                f"{saved['inputs']} (--json lists them and each removed unit's constant)"
            )


def attribution(
    ref: ModelArg,
    method: Annotated[
        str,
        typer.Option("--method", help="flow_dpi (default: class-specific, nats ≤ I(x_i;1[ŷ=j])), flow (fraction of each class's flow), occlusion, or path (the paper's path product, class-blind)."),
    ] = "flow_dpi",
    estimator: Annotated[str, typer.Option("--estimator", "-e", help="MI estimator of the class-specific methods (gcmi, why: docs/decisions.md §3).")] = "gcmi",
    compare: Annotated[bool, typer.Option("--compare", help="Compare the default (class_flow = flow_dpi) and the path product (nif) with SHAP, Integrated Gradients and raw MI.")] = False,
    store: StoreOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Feature attribution per feature and class. Default: the class-specific, bounded flow
    (flow_dpi); --method path: Σ over all paths of the product of NIF (the paper's).
    With --compare: against SHAP, Integrated Gradients and raw MI (K-S, Spearman, deletion)."""
    from ..analysis.attribution import attribution_comparison, class_attribution
    from ..render import tables

    def work(st, m, r, a):
        if compare:
            return attribution_comparison(st, r.run_id, seed=0), (m.model_id, r.run_id)
        return class_attribution(st, r.run_id, method=method, estimator=estimator), (m.model_id, r.run_id)

    res, (model_id, run_id) = on_analysed_run(store, ref, work)
    if json_:
        print_json({"model_id": model_id, "run_id": run_id, **res.to_dict()})
        return
    if compare:
        from ..render.comparisons import attribution_tables

        for t in attribution_tables(res):
            console.print(t)
        return
    console.print(tables.class_attribution_table(res))


def plot(
    ref: ModelArg,
    out: OutOpt = None,
    html: HtmlOpt = False,
    neo4j: Annotated[bool, typer.Option(
        "--neo4j", help="Also write Neo4j's graph view of the run (neo4j-viz, layers left to right, the "
        "strongest 2,000 edges) as <model>_<run>.neo4j.html; needs nifgraph\\[viz].")] = False,
    store: StoreOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Figure of the NIF graph (size = betweenness, colour = community, width = NIF) and activations, PNG + SVG."""
    from ..config import default_out
    from ..render.figures import run_figures

    paths = on_analysed_run(store, ref, lambda st, m, r, a: run_figures(
        st, m, r, a, out or default_out(), html=html, neo4j_view=neo4j))
    report_written(paths, json_)


def export(
    ref: ModelArg,
    out: OutOpt = None,
    fmt: Annotated[str, typer.Option(
        "--format", help="parquet, csv, both, or neo4j-import (the files of `neo4j-admin database import full`)."
    )] = "both",
    store: StoreOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Export a run's nodes (neurons + metrics) and edges as Parquet and/or CSV, or as the files
    `neo4j-admin database import full` takes (a new Neo4j database, the bulk path for big runs)."""
    from ..config import default_out
    from ..errors import ValidationError
    from ..render.export import FORMATS, export_run

    if fmt not in FORMATS:
        raise ValidationError(f"--format must be parquet, csv, both or neo4j-import; got {fmt!r}.")
    with open_store_cli(store, read_only=True) as st:
        m, r = st.need_run(ref, prefer_analysed=True)
        note = run_note(st, ref, m, r)
        written = export_run(st, m, r, st.get_analysis(r.run_id), out or default_out(), fmt)
    say(note)
    report_written(written, json_)


def delete(
    model: Annotated[str, typer.Argument(help="Model id (or unique prefix, name, or 'latest') to delete with all its runs.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
    store: StoreOpt = None,
) -> None:
    """Delete a stored model with its runs and analyses (on Neo4j, also finish a deletion that
    was interrupted: the model is hidden until then)."""
    from ..errors import NotFoundError, ValidationError

    ref = model.strip()
    with open_store_cli(store) as st:
        try:
            m, _ = st.resolve(model)
        except NotFoundError:
            if not ref or ref == "latest" or any(m.model_id.startswith(ref) or m.name == ref for m in st.list_models()):
                raise  # nothing named, or ambiguous among the visible models: not an interrupted deletion
            hit = [(mid, name) for mid, name in st.deleting_models() if mid.startswith(ref) or name == ref]
            if len(hit) != 1:
                raise
            mid, name = hit[0]
            if not yes and not typer.confirm(f"Finish the interrupted deletion of model {mid} ({name})?"):
                raise typer.Exit(1) from None
            _delete(st, mid, finish=True)
            console.print(f"deleted {mid} (finished an interrupted deletion)")
            return
        if ref != "latest" and not (m.model_id.startswith(ref) or m.name == ref):
            raise ValidationError(
                f"{ref!r} is a run of model {m.model_id}; delete takes a model id — "
                f"run `nifgraph delete {m.model_id}` to delete the model with all its runs."
            )
        if not yes and not typer.confirm(f"Delete model {m.model_id} ({m.name}) and its runs?"):
            raise typer.Exit(1)
        _delete(st, m.model_id, finish=False)
    console.print(f"deleted {m.model_id}")


def _delete(st, model_id: str, *, finish: bool) -> None:
    """Delete (or finish deleting) ``model_id``; Ctrl-C says what is left and how to finish."""
    try:
        st.finish_deletion(model_id) if finish else st.delete_model(model_id)
    except KeyboardInterrupt:
        msg = f"Interrupted: nothing was deleted; model {model_id} is as it was."
        if not st.atomic_delete and (finish or not _still_visible(st, model_id)):
            msg = (f"Interrupted: the deletion of model {model_id} did not finish. It is hidden (only `db status` "
                   f"and `db repair` list it); run `nifgraph delete {model_id} --yes` again (or `nifgraph db repair`) "
                   "to finish it.")
        typer.echo(msg, err=True)
        raise typer.Exit(130) from None


def _still_visible(st, model_id: str) -> bool:
    """Whether ``model_id`` is still a stored model (an interrupt before its deletion began);
    unknown (the store unreachable) counts as not."""
    try:
        st.get_model(model_id)
        return True
    except Exception:  # noqa: BLE001 - not found, or unreachable: say what finishes a deletion
        return False


def register(app: typer.Typer) -> None:
    for fn in (models, show, prune, attribution, plot, export, delete):
        app.command()(fn)

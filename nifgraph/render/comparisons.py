"""Rich tables of comparisons: stored models side by side, attributions against baselines,
pruning curves, two runs' agreement, and any query result frame. Pure presentation."""

from __future__ import annotations

import re
from typing import Any

from rich.text import Text

from .layout import Col, FitTable, fmt_num

__all__ = ["comparison_tables", "attribution_tables", "prune_tables", "agreement_report", "frame_table"]


def _f(v: Any, nd: int = 3) -> str:
    return fmt_num(v, nd)


def comparison_tables(res: Any, *, details: bool = False) -> list[Any]:
    """Rich tables of a :class:`~nifgraph.analysis.attribution.ModelComparison`: one line per
    model and the agreement in one line; with ``details``, every column (name, parameters,
    modularity, top features per class) and the agreement of every pair."""
    # ids are copied into the next command: never cut them
    cols = [Col("model", kind="id"), Col("data"), Col("architecture", "arch"), Col("test acc", "acc", "num"),
            Col("prunable", "prun", "num"), Col("communities", "com", "num"), Col("flow top10%", "flow", "num")]
    if details:
        cols[1:1] = [Col("name")]
        cols[4:4] = [Col("params", kind="num")]
        cols += [Col("modularity", "mod", "num"), Col("run", kind="id"), Col("estimator", "est"),
                 Col("top features per class (path product)", "top features")]
    rows = []
    for s in res.summaries:
        row = [s.model_id, s.dataset, f"{s.architecture} {s.activation}", _f(s.test_accuracy, 4),
               f"{s.fraction_prunable:.0%}", str(s.n_communities), _f(s.flow_concentration)]
        if details:
            row[1:1] = [s.name]
            row[4:4] = [str(s.n_params)]
            row += [_f(s.modularity), s.run_id, s.estimator,
                    "; ".join(f"{c}: {', '.join(f)}" for c, f in s.top_features.items())]
        rows.append(row)
    out: list[Any] = [FitTable(cols, rows, title="Stored models side by side (newest analysed run of each)")]
    if len(res.agreement):
        est = {s.model_id: s.estimator for s in res.summaries}
        mixed = [(r.model_a, r.model_b) for r in res.agreement.itertuples() if est.get(r.model_a) != est.get(r.model_b)]
        if details:
            ag = [[r.model_a, r.model_b, r.dataset,
                   est.get(r.model_a, "?") if est.get(r.model_a) == est.get(r.model_b)
                   else f"{est.get(r.model_a, '?')} / {est.get(r.model_b, '?')} (differ)",
                   _f(r.spearman), _f(r.spearman_p), _f(r.kendall), _f(r.kendall_p)]
                  for r in res.agreement.itertuples()]
            out.append(FitTable(
                [Col("model A", kind="id"), Col("model B", kind="id"), Col("data"), Col("estimator", "est"),
                 Col("Spearman ρ", "ρ", "num"), Col("p", kind="num"), Col("Kendall τ", "τ", "num"), Col("p", kind="num")],
                ag, title="Rank agreement of path-product attributions (the paper's A(i, j); features × classes, same data set)",
                keys=2,
            ))
        else:
            rho = res.agreement["spearman"].astype(float)
            out.append(
                f"Rank agreement of path-product attributions (same data set): Spearman ρ {_f(rho.min())} to "
                f"{_f(rho.max())} over {len(rho)} pair{'s' if len(rho) != 1 else ''} (--details: every pair, names, "
                "top features)"
            )
        if mixed:
            out.append(
                f"Note: {len(mixed)} pair{'s' if len(mixed) != 1 else ''} compare{'s' if len(mixed) == 1 else ''} runs of "
                "different estimators; their agreement mixes model and estimator differences."
            )
        if details:
            out.append("Path product: the paper's attribution, dominated by the strongest input edges and close to "
                       "class-blind; `nifgraph attribution MODEL` gives the class-specific default (flow_dpi).")
    return out


def attribution_tables(res: Any) -> list[Any]:
    """Rich tables of an :class:`~nifgraph.analysis.attribution.AttributionComparison`."""
    norm = res.normalized
    rows = [[str(cn) if i == 0 else "", str(fn), *[_f(norm[k][i, j]) for k in norm]]
            for j, cn in enumerate(res.class_names) for i, fn in enumerate(res.feature_names)]
    m = FitTable([Col("class"), Col("feature")] + [Col(str(name), kind="num") for name in norm], rows,
                 title="Attributions, each class normalised to sum 1", keys=2)
    cols = [Col("method"), Col("K-S D", "D", "num"), Col("K-S p", kind="num"), Col("Spearman ρ", "ρ", "num"),
            Col("p(ρ)", kind="num"), Col("ρ per class", "ρ/class", "num"), Col("deletion AUC", "AUC", "num"),
            Col("AUC per class", "AUC/class", "num")]
    s = FitTable(cols, [
        [r.method, _f(r.ks_statistic), _f(r.ks_p), _f(r.spearman_rho), _f(r.spearman_p),
         _f(r.spearman_per_class), _f(r.deletion_auc), _f(r.deletion_auc_class)]
        for r in res.table().itertuples()
    ], title="Agreement with raw MI (K-S: small statistic / large p = alike) and deletion AUC (lower = better)")
    return [m, s]


def prune_tables(res: Any) -> list[Any]:
    """Rich tables of a :class:`~nifgraph.analysis.pruning.PruneCurves`."""
    default = res.settings.get("default_method")
    means = {m: res.mean(m) for m in res.accuracy}
    t = FitTable(
        [Col("k", kind="num")] + [Col(m, kind="num") for m in res.accuracy],
        [[str(int(k)), *[_f(means[m][i]) for m in res.accuracy]] for i, k in enumerate(res.ks)],
        title=f"Held-out accuracy after removing k of {res.n_hidden} hidden neurons (mean over {res.seeds} seeds"
        + (f"; default order: {default})" if default else ")"),
    )
    s = FitTable(
        [Col("method"), Col("AUC", kind="num"), Col("removable", kind="num")],
        [[f"{r.method} (default)" if r.method == default else r.method, _f(r.auc), f"{r.removable_1pt:.1f}"]
         for r in res.summary().itertuples()],
        title="Summary (AUC: area under accuracy vs fraction removed; removable: neurons removed within 1 point)",
    )
    out: list[Any] = [t, s]
    order = res.orders.get(default) if default else None
    if order:
        k = int(res.removable_per_seed(default)[0])
        units = ", ".join(f"L{a}:{b}" for a, b in order[:k])
        out.append(f"{default} order (seed 0): the first {k} unit(s), removable within 1 point"
                   + (f": {units}" if k else "") + " (--json: every method's whole order, key 'order')")
    return out


_ID = re.compile(r"^[a-z]-[0-9a-f]{12}$")


def frame_table(frame: Any, title: str | None = None) -> Any:
    """A query's rows as a table; ids (a column named ``…_id``, as ``r.run_id``, or holding only
    nifgraph ids) are never cut, since they are copied into the next command."""
    import pandas as pd

    def kind(c: Any) -> str:
        s = frame[c]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            return "num"
        values = [v for v in s if isinstance(v, str)]
        if str(c).rsplit(".", 1)[-1].endswith("_id") or (values and all(_ID.match(v) for v in values)):
            return "id"
        return "text"

    cols = [Col(str(c), kind=kind(c)) for c in frame.columns]
    return FitTable(cols, [[_cell(v) for v in row] for row in frame.itertuples(index=False)], title=title)


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, list | tuple):
        return ", ".join(_cell(x) for x in v)
    return "" if v is None else str(v)



def agreement_report(ag: Any, top: int) -> list[Any]:
    """Lines and a table of an :class:`~nifgraph.analysis.agreement.Agreement`."""
    out: list[Any] = []
    out.append(Text.assemble("runs ", (str(ag.run_a), "bold"), " vs ", (str(ag.run_b), "bold"), f" · {ag.n_edges} edges"))
    out.append(f"Spearman rank correlation of edge values: {ag.spearman:.3f}")
    if not ag.has_decisions:
        out.append(Text.assemble(("No significance decisions:", "yellow"), " estimate both runs with --null to compare them."))
        return out
    out.append(
        f"significant at q ≤ {ag.alpha:g}: {ag.n_significant_a} vs {ag.n_significant_b} · "
        f"decisions agree on {ag.decision_agreement:.1%} of edges · {len(ag.flips)} flip"
    )
    if not len(ag.flips):
        return out
    flips = ag.flips.assign(change=(ag.flips["value_a"] - ag.flips["value_b"]).abs())
    flips = flips.sort_values("change", ascending=False).head(max(top, 0))
    rows = []
    for r in flips.itertuples():
        src = getattr(r, "src_name", None) or f"{r.src_layer}:{r.src_idx}"
        dst = getattr(r, "dst_name", None) or f"{r.dst_layer}:{r.dst_idx}"
        rows.append([
            f"{src} → {dst}", _f(r.value_a, 4), f"{r.q_value_a:.3g}", _f(r.value_b, 4),
            f"{r.q_value_b:.3g}", "a" if r.significant_a else "b",
        ])
    out.append(FitTable(
        [Col("edge"), Col("value a", "a", "num"), Col("q a", kind="num"), Col("value b", "b", "num"),
         Col("q b", kind="num"), Col("significant in", "sig. in")],
        rows, title="edges that flip",
    ))
    return out

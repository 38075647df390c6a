"""Rich tables of comparisons: stored models side by side, attributions against baselines,
pruning curves, two runs' agreement, and any query result frame. Pure presentation."""

from __future__ import annotations

from typing import Any

__all__ = ["comparison_tables", "attribution_tables", "prune_tables", "agreement_report", "frame_table"]


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
    default = res.settings.get("default_method")

    def label(m: str) -> str:
        return f"{m} (default)" if m == default else m

    for m in res.accuracy:
        t.add_column(label(m), justify="right")
    means = {m: res.mean(m) for m in res.accuracy}
    for i, k in enumerate(res.ks):
        t.add_row(str(int(k)), *[_f(means[m][i]) for m in res.accuracy])
    s = Table(title="Summary (AUC: area under accuracy vs fraction removed; removable: neurons removed within 1 point)",
              title_justify="left")
    for c in ("method", "AUC", "removable"):
        s.add_column(c, justify="left" if c == "method" else "right")
    for r in res.summary().itertuples():
        s.add_row(label(r.method), _f(r.auc), _f(r.removable_1pt, 1))
    return [t, s]


def frame_table(frame: Any, title: str | None = None) -> Any:
    from rich.table import Table

    t = Table(title=title, show_lines=False)
    for c in frame.columns:
        t.add_column(str(c))
    for row in frame.itertuples(index=False):
        t.add_row(*(_cell(v) for v in row))
    return t


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, list | tuple):
        return ", ".join(_cell(x) for x in v)
    return "" if v is None else str(v)



def agreement_report(ag: Any, top: int) -> list[Any]:
    """Lines and a table of an :class:`~nifgraph.analysis.agreement.Agreement`."""
    from rich.table import Table

    out: list[Any] = []
    out.append(f"runs [bold]{ag.run_a}[/] vs [bold]{ag.run_b}[/] · {ag.n_edges} edges")
    out.append(f"Spearman rank correlation of edge values: {ag.spearman:.3f}")
    if not ag.has_decisions:
        out.append("[yellow]No significance decisions:[/] estimate both runs with --null to compare them.")
        return out
    out.append(
        f"significant at q ≤ {ag.alpha:g}: {ag.n_significant_a} vs {ag.n_significant_b} · "
        f"decisions agree on {ag.decision_agreement:.1%} of edges · {len(ag.flips)} flip"
    )
    if not len(ag.flips):
        return out
    flips = ag.flips.assign(change=(ag.flips["value_a"] - ag.flips["value_b"]).abs())
    flips = flips.sort_values("change", ascending=False).head(max(top, 0))
    table = Table("edge", "value a", "q a", "value b", "q b", "significant in", title="edges that flip")
    for r in flips.itertuples():
        src = getattr(r, "src_name", None) or f"{r.src_layer}:{r.src_idx}"
        dst = getattr(r, "dst_name", None) or f"{r.dst_layer}:{r.dst_idx}"
        table.add_row(
            f"{src} → {dst}", f"{r.value_a:.4f}", f"{r.q_value_a:.3g}", f"{r.value_b:.4f}",
            f"{r.q_value_b:.3g}", "a" if r.significant_a else "b",
        )
    out.append(table)
    return out

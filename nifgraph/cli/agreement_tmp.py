"""``nifgraph agreement``: do two runs of the same model tell the same story?"""

from __future__ import annotations

from typing import Annotated

import typer

from ._common import JsonOpt, StoreOpt, console, open_store_cli, print_json


def register(app: typer.Typer) -> None:
    @app.command()
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
        _render(ag, top)


def _render(ag, top: int) -> None:
    from rich.table import Table

    console.print(f"runs [bold]{ag.run_a}[/] vs [bold]{ag.run_b}[/] · {ag.n_edges} edges")
    console.print(f"Spearman rank correlation of edge values: {ag.spearman:.3f}")
    if not ag.has_decisions:
        console.print("[yellow]No significance decisions:[/] estimate both runs with --null to compare them.")
        return
    console.print(
        f"significant at q ≤ {ag.alpha:g}: {ag.n_significant_a} vs {ag.n_significant_b} · "
        f"decisions agree on {ag.decision_agreement:.1%} of edges · {len(ag.flips)} flip"
    )
    if not len(ag.flips):
        return
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
    console.print(table)

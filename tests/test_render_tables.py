"""nifgraph.render.tables: what users read and copy is not cut."""

from __future__ import annotations


def test_model_ids_are_not_truncated_in_narrow_tables():
    from rich.console import Console

    from nifgraph.render.tables import models_table

    mid = "m-0123456789ab"
    row = dict(model_id=mid, name="a-rather-long-model-name-" * 2, dataset="breast-cancer",
               architecture="30-64-32-2", activation="relu", test_accuracy=0.9, runs=3, prunable=1,
               hidden=96, created_at="2026-01-01T00:00:00+00:00")
    console = Console(width=60, record=True)
    console.print(models_table([row]))
    assert mid in console.export_text()


def test_show_names_conv_samples_only_for_models_with_conv_layers():
    """A DAG run records its conv-sample mode; ``show`` prints it for a CNN, not for a DAG of
    Linear layers (a residual MLP), where it means nothing."""
    from dataclasses import replace

    from rich.console import Console

    from nifgraph.render.tables import header_table

    from .store_fixtures import DAG_LAYERS, make_dag_model, make_edges

    cnn, _ = make_dag_model()
    linear = [dict(la, kind="linear") if la["kind"] == "conv" else la for la in DAG_LAYERS]
    mlp = replace(cnn, meta={**cnn.meta, "dag": {"layers": linear}})
    run, _ = make_edges(cnn)
    run = replace(run, settings={**run.settings, "conv_samples": "mean"})

    def shown(model):
        console = Console(width=120, record=True)
        console.print(header_table(model, run, None))
        return console.export_text()

    assert "conv samples" in shown(cnn) and "mean over positions" in shown(cnn)
    assert "conv samples" not in shown(mlp) and "held-out accuracy" in shown(mlp)

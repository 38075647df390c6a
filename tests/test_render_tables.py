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


def test_query_tables_never_cut_ids_at_80_columns():
    """A named query's or ad-hoc Cypher's rows at 80 columns: model and run ids (by column name,
    `r.run_id` included, or by value) stay whole on one line, whatever wraps around them."""
    import pandas as pd
    from rich.console import Console

    from nifgraph.render.comparisons import frame_table

    mid, rid = "m-1babf673021a", "r-2a770c34fbcc"
    frame = pd.DataFrame([dict(model_id=mid, name="iris-4-5-3-relu-s0", architecture="4-5-3", **{"r.run_id": rid},
                               hidden=5, prunable=1, fraction_prunable=0.2, accuracy_before=0.9777,
                               accuracy_after=0.9777, who=rid)])
    console = Console(width=80, record=True)
    console.print(frame_table(frame, title="Models ranked by the fraction of their hidden neurons that are prunable"))
    text = console.export_text()
    import re

    ids = re.findall(r"\b[mr]-[0-9a-f]+", text)
    assert ids and set(ids) == {mid, rid}, text  # whole, never cut (a wide table repeats the first id)
    assert text.count(rid) >= 2
    assert max(len(line) for line in text.splitlines()) <= 80

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

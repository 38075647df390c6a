"""nifgraph.render.charts: the ``compare --plot`` chart labels its rows with feature names."""

from __future__ import annotations

from pathlib import Path

from nifgraph.store import open_store

from .conftest import invoke, train_iris


def test_compare_plot_labels_rows_with_feature_names(monkeypatch):
    from matplotlib.figure import Figure

    from nifgraph.analysis.summaries import compare_models

    mid = train_iris()
    assert invoke("estimate", mid, "--estimator", "gcmi").exit_code == 0
    with open_store() as st:
        res = compare_models(st, [mid])
        features = st.get_model(mid).feature_names
    assert res.summaries[0].feature_names == tuple(features)
    assert "feature_names" not in res.table().columns

    seen = []
    def savefig(self, fname, *a, **k):  # record the figure; write a placeholder file as savefig would
        seen.append(self)
        Path(fname).write_bytes(b"")

    monkeypatch.setattr(Figure, "savefig", savefig)
    assert invoke("compare", mid, "--plot").exit_code == 0
    labels = [t.get_text() for t in seen[0].axes[0].get_yticklabels()]
    assert labels == list(features)

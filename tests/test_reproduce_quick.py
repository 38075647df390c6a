"""The reproduction script end to end on a tiny profile (the CI runs ``--quick`` itself)."""

from __future__ import annotations

import dataclasses

from tests.conftest import load_script


def _script():
    return load_script("reproduce_paper")


def test_reproduce_tiny_profile(tmp_path):
    rp = _script()
    iris = rp.Spec("iris 4-5-3", "iris", (5,), epochs=60)
    tiny = dataclasses.replace(
        rp.QUICK, name="tiny", paper=(iris,), paper_seeds=1, estimator="gcmi", digits=None,
        sweep=(dataclasses.replace(iris, label="tanh", activation="tanh"),), sweep_seeds=1, prune_orders=2,
        min_accuracy=0.9,
    )
    results, figures = tmp_path / "results.md", tmp_path / "figures"
    R = rp.run_all(tiny, results, figures, store_dir=tmp_path / "store")
    passed = rp.check(R, tiny)
    assert len(passed) == 5
    text = results.read_text()
    for heading in ("## 1.", "## 2.", "## 3.", "## 4.", "## 5.", "## 6.", "disagree with the paper"):
        assert heading in text
    assert "*small* statistic" in text and "backwards" in text  # K-S read the right way
    assert (figures / "nif_iris_4-5-3_s0.png").is_file() and (figures / "prune_iris_4-5-3.png").is_file()
    assert set(R["attribution"]["method"]) == {"class_flow", "nif", "shap", "ig", "raw_mi", "random order"}
    c = R["curves"]["iris 4-5-3"]
    assert c["ks"].tolist() == [0, 1, 2, 3, 4, 5]
    assert list(c["mean"]) == ["greedy_kl", "std_wout", "mi_output", "nif", "betweenness", "magnitude", "random"]
    assert c["summary"]["method"].iloc[0] == "greedy_kl (default)" and c["to_dict_default"] == ["greedy_kl"]
    # the pruning decision per network, nested and within tolerance
    row = R["paper"].iloc[0]
    assert row["prunable"] <= row["candidates"] <= row["flow_flagged"] and row["nested"]
    assert row["accuracy_before"] - row["accuracy_after"] <= row["tolerance"] + 1e-9
    for col in ("flow_flagged", "candidates", "prunable", "all flagged", "greedy_kl (default)", "class_flow (default)",
                "class_specificity", "deletion_auc_class", "ln 2"):
        assert col in text, col
    # the file records the hash of the sources that produced it (taken when the run started)
    assert rp.recorded_hash(text) == R["sources"]["hash"] and R["sources"]["files"] == len(rp.source_files())

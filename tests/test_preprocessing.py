"""What the model sees is explicit: ``--standardize`` (default) or ``--no-standardize``; a stored
model keeps its choice and scaler, and an import whose accuracy is clearly better under the
other preprocessing gets a note naming the fix."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import torch
from torch import nn
from typer.testing import CliRunner

from nifgraph.cli import app
from nifgraph.store import open_store
from nifgraph.stored import model_dataset


def _raw_model_and_csv(tmp_path):
    """A linear model trained on raw features whose scale matters: class = x0 > 50."""
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.uniform(0, 100, 400), rng.normal(0, 1, 400)])
    y = (x[:, 0] > 50).astype(int)
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "label": y}).to_csv(tmp_path / "raw.csv", index=False)
    lin = nn.Linear(2, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[0.0, 0.0], [1.0, 0.0]]))
        lin.bias.copy_(torch.tensor([0.0, -50.0]))
    keep = nn.Linear(2, 2)  # a hidden ReLU layer that passes x0 (≥ 0) on unchanged
    with torch.no_grad():
        keep.weight.copy_(torch.eye(2))
        keep.bias.zero_()
    torch.save(nn.Sequential(keep, nn.ReLU(), lin), tmp_path / "raw.pt")
    return tmp_path / "raw.pt", tmp_path / "raw.csv"


def test_standardize_choice_is_kept_and_a_wrong_choice_is_named(tmp_path):
    pt, csv = _raw_model_and_csv(tmp_path)
    runner = CliRunner()
    common = ["train", "--model-file", str(pt), "--trust-pickle", "--csv", str(csv), "--target", "label", "--json"]
    bad = json.loads(runner.invoke(app, common, catch_exceptions=False).stdout)
    assert bad["standardized"] is True and bad["test_accuracy"] < 0.9
    assert any("--no-standardize" in n for n in bad["notes"])
    good = json.loads(runner.invoke(app, [*common, "--no-standardize"], catch_exceptions=False).stdout)
    assert good["standardized"] is False and good["test_accuracy"] == 1.0 and good["notes"] == []
    with open_store() as st:
        model = st.get_model(good["model_id"])
        ds = model_dataset(model)  # a reload sees what the model saw at import
        assert not ds.standardized and ds.x_test[:, 0].max() > 10
        assert model.meta["dataset"]["scaler"] == {"mean": [0.0, 0.0], "scale": [1.0, 1.0]}
        std = model_dataset(st.get_model(bad["model_id"]))
        assert std.standardized and abs(float(std.x_train[:, 0].mean())) < 1e-5
    shown = runner.invoke(app, ["show", good["model_id"]], catch_exceptions=False).stdout
    assert "raw features" in shown

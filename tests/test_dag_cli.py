"""A CNN with a residual block, imported as a torch.export program and taken through the CLI
as a user would: train --model-file --input-shape, estimate, show, plot, export; the stored
edges include the skip, the stored attribution is the DAG path sum, and the pruning
recommendation is verified by removal inside the graph."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from nifgraph.flowgraph import dag_path_sums
from nifgraph.store import open_store

from .conftest import invoke, one_line_error


class _ResCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem, self.conv = nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)
        self.bn, self.head = nn.BatchNorm2d(4), nn.Linear(4, 10)

    def forward(self, x):
        h = torch.relu(self.stem(x))
        y = torch.relu(self.bn(self.conv(h)) + h)
        return self.head(y.mean(dim=(2, 3)))


def _pt2(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "cnn.pt2"
    torch.export.save(torch.export.export(_ResCNN().eval(), (torch.randn(4, 1, 8, 8),)), path)
    return path


def test_a_residual_cnn_goes_through_the_cli(tmp_path):
    path = _pt2(tmp_path)
    one_line_error(invoke("train", "--model-file", str(path), "--dataset", "digits", "--input-shape", "1,9,8"),
                   "(1, 9, 8)", "64 features", "--input-shape")
    one_line_error(invoke("train", "--model-file", str(path), "--dataset", "digits", "--input-shape", "1,x"),
                   "--input-shape", "1,8,8")
    res = invoke("train", "--model-file", str(path), "--dataset", "digits", "--input-shape", "1,8,8", "--json")
    assert res.exit_code == 0, res.output
    mid = json.loads(res.stdout)["model_id"]
    assert json.loads(res.stdout)["architecture"] == "64-4-4-10"
    one_line_error(invoke("estimate", mid, "--estimator", "gcmi", "--beta", "0.1"), "DAG model", "not defined",
                   "skip paths", "drop --beta")
    one_line_error(invoke("estimate", mid, "--estimator", "gcmi", "--variant", "layer"), "DAG model", "--variant pairwise")
    res = invoke("estimate", mid, "--estimator", "gcmi", "--json")
    assert res.exit_code == 0, res.output
    with open_store() as st:
        model = st.get_model(mid)
        run = st.list_runs(mid)[-1]
        edges = st.get_edges(run.run_id)
        analysis = st.get_analysis(run.run_id)
    assert model.meta["dag"]["layers"][3]["inputs"] == [1, 2]  # the head reads the conv and, over the skip, the stem
    pairs = set(zip(edges["src_layer"], edges["dst_layer"], strict=True))
    assert pairs == {(0, 1), (1, 2), (1, 3), (2, 3)}
    blocks = {}
    for (a, b), part in edges.groupby(["src_layer", "dst_layer"]):
        m = np.zeros((model.layer_sizes[a], model.layer_sizes[b]))
        m[part["src_idx"], part["dst_idx"]] = part["value"]
        blocks[(int(a), int(b))] = m
    np.testing.assert_allclose(analysis.attribution_matrix(model), dag_path_sums(model.layer_sizes, blocks), rtol=1e-9)
    # the recommendation was verified: removing it again inside the graph gives the stored accuracy
    pruning = analysis.settings["pruning"]
    assert analysis.accuracy_before - analysis.accuracy_after <= pruning["tolerance"] + 1e-12
    from nifgraph.stored import load_model_network, model_dataset

    with open_store() as st:
        dag, ds = load_model_network(model, st), model_dataset(model)
    units = [tuple(u) for u in pruning["recommended"]]
    assert dag.accuracy(ds.x_test, ds.y_test, units, dag.unit_means(ds.x_train)) == analysis.accuracy_after
    assert any("DAG model" in n for n in analysis.settings["notes"])
    assert invoke("show", mid).exit_code == 0
    # the significance null on a DAG run: q-values on every edge (skips included), decisions on significant edges
    res = invoke("estimate", mid, "--estimator", "gcmi", "--null", "--null-draws", "200", "--json")
    assert res.exit_code == 0, res.output
    with open_store() as st:
        null_run = st.list_runs(mid)[-1]
        null_edges = st.get_edges(null_run.run_id)
        null_analysis = st.get_analysis(null_run.run_id)
    assert null_run.settings["significance"]["null"] and null_edges["q_value"].notna().all()
    assert set(zip(null_edges["src_layer"], null_edges["dst_layer"], strict=True)) == pairs
    assert null_analysis.settings["alpha"] == 0.05
    for args, needle in [(("attribution", mid, "--json"), '"flow_dpi"'), (("attribution", mid, "--method", "flow"), "flow"),
                         (("prune", mid, "--curve", "--seeds", "1"), "greedy_kl")]:
        res = invoke(*args)
        assert res.exit_code == 0 and needle in res.output, res.output
    res = invoke("compare", "--all", "--json")
    assert res.exit_code == 0, res.output
    res = invoke("plot", mid, "--out", str(tmp_path / "fig"))
    assert res.exit_code == 0, res.output
    assert invoke("export", run.run_id, "--out", str(tmp_path / "fig"), "--format", "csv").exit_code == 0
    import pandas as pd

    exported = pd.read_csv(tmp_path / "fig" / f"{run.run_id}_edges.csv")
    skips = exported[exported["skip"]]
    assert set(zip(skips["src_layer_name"], skips["dst_layer_name"], strict=True)) == {("stem", "head")}
    nodes = pd.read_csv(tmp_path / "fig" / f"{run.run_id}_nodes.csv")
    assert nodes.groupby("layer")["layer_kind"].first().tolist() == ["input", "conv", "conv", "linear"]


def test_built_in_cnn_and_resnet_on_digits_as_images():
    one_line_error(invoke("run", "--arch", "cnn", "--dataset", "iris"), "--arch cnn needs image data", "digits")
    one_line_error(invoke("train", "--arch", "vgg"), "'arch' parameter", "resnet")
    res = invoke("run", "--arch", "resnet", "--dataset", "digits", "--hidden", "4", "--epochs", "2",
                 "--batch-size", "128", "--estimator", "gcmi", "--null", "--no-plot", "--json")
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    with open_store() as st:
        model = st.get_model(d["model"]["model_id"] if isinstance(d.get("model"), dict) else st.list_models()[-1].model_id)
    layers = model.meta["dag"]["layers"]
    # input, stem, block conv1, block conv2, head; the head reads the block's conv2 and, over the skip, the stem
    assert [la["kind"] for la in layers] == ["input", "conv", "conv", "conv", "linear"]
    assert layers[-1]["inputs"] == [1, 3] and model.layer_sizes == (64, 4, 4, 4, 10)
    with open_store() as st:  # the main job's null: q-values on every edge, the analysis on significant edges
        run = st.list_runs(model.model_id)[-1]
        assert st.get_edges(run.run_id)["q_value"].notna().all() and st.get_analysis(run.run_id).settings["alpha"] == 0.05
    res = invoke("train", "--arch", "cnn", "--dataset", "digits", "--hidden", "3,5", "--epochs", "1", "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["architecture"] == "64-3-5-10"


def test_attribution_compare_and_pruning_curves_of_the_hand_built_cnn(tmp_path):
    """The baselines on the traced graph and the curves, through the CLI, on the residual CNN
    whose flow is known: every attribution gives the unread channel's pixels (p8-p11) least,
    and the greedy order removes the three empty channels at no cost."""
    from .handbuilt import ResidualCNN, import_residual_cnn

    with open_store() as st:
        mid = import_residual_cnn(st, tmp_path, n=600).model_id
    assert invoke("estimate", mid, "--estimator", "gcmi", "--null", "--null-draws", "200").exit_code == 0
    res = invoke("attribution-compare", mid, "--json")
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert "GradientShap" in d["settings"]["shap"]
    for method, mat in d["matrices"].items():
        m = np.asarray(mat).max(axis=1)  # each pixel's largest attribution over the two classes
        if method in ("shap", "ig"):  # no gradient reaches the unread pixels
            assert m[8:].max() == 0.0 and m[:8].min() > 0, method
        elif method != "raw_mi":  # estimates: the unread pixels get estimator noise only
            assert m[8:].max() < 0.05 * m[:8].min(), method
    res = invoke("prune", mid, "--curve", "--seeds", "1", "--json")
    assert res.exit_code == 0, res.output
    curves = json.loads(res.stdout)
    assert curves["n_hidden"] == 6 and curves["accuracy"]["greedy_kl"][0][3] == 1.0
    assert {tuple(u) for u in curves["flagged"]} == ResidualCNN.PRUNABLE and curves["accuracy_flagged"] == 1.0


@pytest.mark.slow
def test_the_default_cnn_reaches_97_percent_held_out_on_digits_through_run():
    """The issue's must-hold: ``nifgraph run --arch cnn`` on digits (its defaults: 16,32 channels,
    20 epochs, lr 0.003, batch 32, a max-pooled spatial head) at ≥ 97 % held-out accuracy.
    A global-average-pooled head reached 0.939 with 16,32 channels and 20 epochs, so this fails if the head or the defaults regress."""
    res = invoke("run", "--arch", "cnn", "--dataset", "digits", "--estimator", "gcmi", "--no-plot", "--json")
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["architecture"] == "64-16-32-10"
    assert d["test_accuracy"] >= 0.97, d["test_accuracy"]
    assert d["timings"]["train_s"] < 60, d["timings"]


def test_an_input_shape_the_program_cannot_take_is_one_line(tmp_path):
    """A shape with the right number of values but not the exported one would reshape the
    pixels into nonsense (accuracy near chance) and is refused; a program whose spatial size is
    free but whose head is not runs into torch's error, which becomes one line; on such a
    program a rearrangement of an image data set's pixels is refused against the images' shape."""
    path = _pt2(tmp_path)
    for shape in ("1,4,16", "64"):
        one_line_error(invoke("train", "--model-file", str(path), "--dataset", "digits", "--input-shape", shape),
                       f"--input-shape {shape} differs", "exported with, 1,8,8", "omit --input-shape")

    class Flat(nn.Module):  # the conv runs at any size but needs one channel
        def __init__(self):
            super().__init__()
            self.conv, self.head = nn.Conv2d(1, 4, 3, padding=1), nn.Linear(4 * 8 * 8, 10)

        def forward(self, x):
            return self.head(torch.relu(self.conv(x)).flatten(1))

    dims = {"x": {0: torch.export.Dim.AUTO, 2: torch.export.Dim.AUTO, 3: torch.export.Dim.AUTO}}
    torch.export.save(torch.export.export(Flat().eval(), (torch.randn(4, 1, 8, 8),), dynamic_shapes=dims),
                      tmp_path / "flat.pt2")
    one_line_error(invoke("train", "--model-file", str(tmp_path / "flat.pt2"), "--dataset", "digits",
                          "--input-shape", "8,8,1"), "cannot run on samples of shape (8, 8, 1)", "--input-shape")
    with open_store() as st:
        assert st.list_models() == []
    res = invoke("train", "--model-file", str(tmp_path / "flat.pt2"), "--dataset", "digits", "--input-shape", "1,8,8")
    assert res.exit_code == 0, res.output

    class Pooled(nn.Module):  # runs at any spatial size: a rearrangement of the pixels would run too
        def __init__(self):
            super().__init__()
            self.conv, self.head = nn.Conv2d(1, 4, 3, padding=1), nn.Linear(4, 10)

        def forward(self, x):
            return self.head(torch.relu(self.conv(x)).mean(dim=(2, 3)))

    torch.export.save(torch.export.export(Pooled().eval(), (torch.randn(4, 1, 8, 8),), dynamic_shapes=dims),
                      tmp_path / "pooled.pt2")
    one_line_error(invoke("train", "--model-file", str(tmp_path / "pooled.pt2"), "--dataset", "digits",
                          "--input-shape", "1,4,16"), "--input-shape 1,4,16 rearranges 'digits'", "1×8×8", "--input-shape 1,8,8")
    res = invoke("train", "--model-file", str(tmp_path / "pooled.pt2"), "--dataset", "digits", "--json")
    assert res.exit_code == 0, res.output  # without --input-shape: the images' own shape
    assert json.loads(res.stdout)["architecture"] == "64-4-10"


def test_attention_is_refused_as_attention(tmp_path):
    class Attn(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.att, self.head = nn.Linear(1, 8), nn.MultiheadAttention(8, 2, batch_first=True), nn.Linear(8, 3)

        def forward(self, x):
            h = self.emb(x.unsqueeze(2))
            return self.head(self.att(h, h, h)[0].mean(1))

    torch.export.save(torch.export.export(Attn().eval(), (torch.randn(4, 13),)), tmp_path / "attn.pt2")
    res = invoke("train", "--model-file", str(tmp_path / "attn.pt2"), "--dataset", "wine")
    lines = res.output.strip().splitlines()
    assert res.exit_code == 1 and len(lines) == 1 and "Traceback" not in res.output, res.output
    assert lines[0].startswith("UnsupportedModelError: ") and "(node bmm)" in lines[0] and "not attention" in lines[0]

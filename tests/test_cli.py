"""The CLI end to end through typer's CliRunner, the README's main-job command itself, and
bad input: one line, exit code ≠ 0, nothing stored."""

from __future__ import annotations

import json
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from nifgraph.cli import app

from .conftest import invoke, one_line_error, stored_models

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
FAST = ["--steps", "200"]


def _readme_main_command() -> list[str]:
    """The `nifgraph …` command the README's quick start (make run) executes."""
    make = (ROOT / "Makefile").read_text()
    m = re.search(r"^run:.*\n\t\$\(BIN\)/(nifgraph[^\n]*)", make, re.M)
    assert m, "Makefile run target must call nifgraph"
    assert "make run" in (ROOT / "README.md").read_text()
    return m.group(1).split()[1:]


@pytest.fixture(scope="module")
def main_job(tmp_path_factory):
    """Run the README's main job once (default Iris job) and keep its store."""
    tmp = tmp_path_factory.mktemp("main")
    env = {"NIFGRAPH_STORE": str(tmp / "s.duckdb"), "NIFGRAPH_OUT": str(tmp / "out")}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        res = runner.invoke(app, [*_readme_main_command(), "--json"], catch_exceptions=False)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return res, env


def test_readme_main_job(main_job):
    res, env = main_job
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    for key in ("model_id", "run_id", "test_accuracy", "prunable", "accuracy_before", "accuracy_after",
                "n_communities", "attribution"):
        assert key in out
    assert out["architecture"] == "4-5-3"
    assert out["test_accuracy"] >= 0.9
    mat = out["attribution"]["matrix"]
    assert len(mat) == 4 and all(len(r) == 3 for r in mat)
    assert out["attribution"]["features"][2].startswith("petal")
    assert all(Path(p).stat().st_size > 0 for p in out["figures"])
    assert {Path(p).suffix for p in out["figures"]} >= {".png", ".svg"}
    # petal features carry more information to the classes than sepal width (known for Iris)
    total = [sum(r) for r in mat]
    assert min(total[2], total[3]) > total[1]


def test_commands_on_stored_model(main_job, monkeypatch, tmp_path):
    res, env = main_job
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    out = json.loads(res.stdout)
    mid, rid = out["model_id"], out["run_id"]

    r = invoke("models", "--json")
    rows = json.loads(r.stdout)
    assert [x["model_id"] for x in rows] == [mid] and rows[0]["runs"] == 1

    r = invoke("show", mid, "--json")
    assert json.loads(r.stdout)["run_id"] == rid
    r = invoke("show", "latest")
    assert r.exit_code == 0 and "betweenness" in r.stdout

    r = invoke("attribution", rid, "--method", "path", "--json")
    assert json.loads(r.stdout)["matrix"] == out["attribution"]["matrix"]
    r = invoke("attribution", rid, "--json")  # default: class-specific, bounded
    d = json.loads(r.stdout)
    vals, bound = np.array(d["matrix"]), np.array(d["bound"])
    assert d["method"] == "flow_dpi" and vals.shape == (4, 3) and (vals <= bound + 1e-12).all()
    assert (bound <= np.log(2) + 1e-9).all()
    _assert_clean_error(invoke("attribution", rid, "--method", "shapley"), "'method' parameter")

    r = invoke("prune", mid, "--threshold", "100", "--json")
    p = json.loads(r.stdout)
    # every hidden neuron is under an absurd threshold, but each carries information about its
    # input and output layers (unit-level test): none is a candidate, nothing is removed
    assert len(p["pruning"]["flagged_by_flow"]) == 5
    assert p["pruning"]["candidates"] == [] and p["prunable"] == []
    assert p["accuracy_after"] == p["accuracy_before"]

    r = invoke("prune", mid, "--curve", "--seeds", "2", "--json")
    c = json.loads(r.stdout)
    assert c["n_hidden"] == 5 and c["ks"][0] == 0
    assert {"magnitude", "random"} <= set(c["accuracy"])
    for per_seed in c["accuracy"].values():  # (seeds, ks); nothing removed = the model's accuracy
        assert all(curve[0] == pytest.approx(out["test_accuracy"]) for curve in per_seed)
        assert all(len(curve) == len(c["ks"]) for curve in per_seed)

    r = invoke("analyze", rid, "--gamma", "2.0", "--json")
    a = json.loads(r.stdout)
    assert a["gamma"] == 2.0 and a["engine"] == "local"

    r = invoke("estimate", mid, "--estimator", "gcmi", "--json")
    e = json.loads(r.stdout)
    assert e["estimator"] == "gcmi" and e["run_id"] != rid
    assert json.loads(invoke("models", "--json").stdout)[0]["runs"] == 2

    # a run with a permutation null is analysed on significant edges by default
    r = invoke("estimate", mid, "--estimator", "gcmi", "--null", "--json")
    e = json.loads(r.stdout)
    assert e["alpha"] == 0.05 and e["threshold"] == 0.0
    r = invoke("analyze", e["run_id"], "--alpha", "1", "--json")
    a = json.loads(r.stdout)
    assert a["alpha"] is None and a["threshold"] == 0.02

    r = invoke("export", rid, "--out", str(tmp_path / "exp"), "--json")
    files = [Path(f) for f in json.loads(r.stdout)]
    edges = pd.read_parquet([f for f in files if f.name.endswith("edges.parquet")][0])
    assert len(edges) == 4 * 5 + 5 * 3
    nodes = pd.read_csv([f for f in files if f.name.endswith("nodes.csv")][0])
    assert len(nodes) == 12 and "betweenness" in nodes

    r = invoke("plot", rid, "--out", str(tmp_path / "fig"), "--html", "--json")
    paths = [Path(p) for p in json.loads(r.stdout)]
    assert {p.suffix for p in paths} == {".png", ".svg", ".html"}


def test_train_and_import_user_model(tmp_path):
    r = invoke("train", "--dataset", "iris", "--hidden", "6,4", "--activation", "tanh", "--epochs", "30", "--json")
    assert r.exit_code == 0
    assert json.loads(r.stdout)["architecture"] == "4-6-4-3"
    m = nn.Sequential(nn.Linear(4, 3), nn.GELU(), nn.Dropout(0.2), nn.Linear(3, 3))
    torch.save(m, tmp_path / "user.pt")
    r = invoke("train", "--model-file", str(tmp_path / "user.pt"), "--trust-pickle", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["architecture"] == "4-3-3"
    assert len(stored_models()) == 2


def test_banknote_from_shared_copy():
    r = invoke("train", "--dataset", "banknote", "--epochs", "20", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["architecture"] == "4-5-2"


# --- bad input: one line, exit ≠ 0, nothing stored -------------------------------------

def _assert_clean_error(res, *needles: str):
    assert res.exit_code != 0
    lines = [ln for ln in res.stderr.strip().splitlines() if re.match(r"^\w+Error: ", ln)]
    assert len(lines) == 1, res.stderr
    assert res.stderr.strip().splitlines()[-1] == lines[0]
    assert "Traceback" not in res.output
    for n in needles:
        assert n in lines[0], lines[0]


def test_unknown_dataset():
    _assert_clean_error(invoke("run", "--dataset", "imagenet"), "Unknown data set", "iris")
    assert stored_models() == []


def test_csv_missing_target(tmp_path):
    f = tmp_path / "d.csv"
    pd.DataFrame({"a": [1, 2, 3, 4], "b": [1, 2, 3, 4], "y": [0, 1, 0, 1]}).to_csv(f, index=False)
    _assert_clean_error(invoke("train", "--csv", str(f), "--target", "label"), "no target column", "--target")
    assert stored_models() == []


def test_csv_with_nans(tmp_path):
    f = tmp_path / "d.csv"
    pd.DataFrame({"a": [1, None, 3, 4], "b": [1, 2, 3, 4], "y": [0, 1, 0, 1]}).to_csv(f, index=False)
    _assert_clean_error(invoke("run", "--csv", str(f), "--target", "y"), "missing or infinite", "'a'")
    assert stored_models() == []


def test_unsupported_model_file(tmp_path):
    conv = nn.Sequential(nn.Conv1d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4, 3))
    torch.save(conv, tmp_path / "conv.pt")
    _assert_clean_error(invoke("train", "--model-file", str(tmp_path / "conv.pt"), "--trust-pickle"), "Conv1d")
    (tmp_path / "junk.pt").write_text("not a model")
    _assert_clean_error(invoke("train", "--model-file", str(tmp_path / "junk.pt")), "junk.pt")
    torch.save(nn.Linear(4, 3).state_dict(), tmp_path / "sd.pt")
    _assert_clean_error(invoke("train", "--model-file", str(tmp_path / "sd.pt")), "state_dict")
    assert stored_models() == []


class _RunsCode:
    """A pickle that creates a file when it is loaded (as a malicious model file would)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_runs_no_code_unless_trusted(tmp_path):
    marker = tmp_path / "pwned"
    torch.save(_RunsCode(marker), tmp_path / "evil.pt")
    _assert_clean_error(invoke("train", "--model-file", str(tmp_path / "evil.pt")), "--trust-model-file", "torch.export")
    assert not marker.exists() and stored_models() == []
    # a whole module saved with torch.save is a pickle too: refused the same way until trusted
    torch.save(nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3)), tmp_path / "m.pt")
    _assert_clean_error(invoke("train", "--model-file", str(tmp_path / "m.pt")), "--trust-model-file")
    assert invoke("train", "--model-file", str(tmp_path / "m.pt"), "--trust-model-file").exit_code == 0
    # TorchScript needs no trust; a folder gets a clear message
    with warnings.catch_warnings():  # torch deprecates jit.script in favour of torch.export
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))), tmp_path / "m.ts")
    assert invoke("train", "--model-file", str(tmp_path / "m.ts")).exit_code == 0
    _assert_clean_error(invoke("train", "--model-file", str(tmp_path)), "is a folder")


def test_a_torch_export_program_is_read_from_its_graph(tmp_path):
    """``.pt2`` needs no trust; its network computes exactly what the user's model does, and an
    operation nifgraph cannot read is named with its node."""
    from nifgraph.checkpoint import load_network

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Dropout(0.2), nn.Linear(6, 3), nn.Softmax(dim=1)).eval()
    x = torch.randn(5, 4)
    torch.export.save(torch.export.export(model, (x,)), tmp_path / "m.pt2")
    net, meta = load_network(tmp_path / "m.pt2")
    assert net.layer_sizes == (4, 6, 3) and net.activations == ("tanh", "identity") and meta["source"] == "torch.export"
    with torch.no_grad():  # logits: the trailing softmax is dropped, as for nn.Sequential
        torch.testing.assert_close(net.module(x), model[:4](x))
    assert invoke("train", "--model-file", str(tmp_path / "m.pt2")).exit_code == 0

    class Skip(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 3)

        def forward(self, v):
            return self.b(torch.relu(self.a(v)) + v)

    torch.export.save(torch.export.export(Skip().eval(), (x,)), tmp_path / "skip.pt2")
    res = invoke("train", "--model-file", str(tmp_path / "skip.pt2"), "--json")  # a skip: read as a DAG model
    assert res.exit_code == 0 and json.loads(res.stdout)["architecture"] == "4-4-3"

    class Gate(nn.Module):  # attention-style product of two layers: refused, naming the node
        def __init__(self):
            super().__init__()
            self.q, self.k = nn.Linear(4, 4), nn.Linear(4, 3)

        def forward(self, v):
            return self.q(v) @ self.k.weight.T @ torch.eye(3) + self.k(v).sum(1, keepdim=True) * 0

    torch.export.save(torch.export.export(Gate().eval(), (x,)), tmp_path / "gate.pt2")
    _assert_clean_error(invoke("train", "--model-file", str(tmp_path / "gate.pt2")), "node")


def test_feature_count_mismatch(tmp_path):
    torch.save(nn.Sequential(nn.Linear(7, 3), nn.ReLU(), nn.Linear(3, 3)), tmp_path / "m.pt")
    _assert_clean_error(invoke("train", "--model-file", str(tmp_path / "m.pt"), "--trust-pickle"), "7 input features", "4")
    assert stored_models() == []


def test_unwritable_store(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    _assert_clean_error(invoke("run", "--store", str(blocker / "sub" / "s.duckdb")), "--store")


def test_bad_options():
    # read-only commands never create a store at a mistyped path
    _assert_clean_error(invoke("show", "m-nothere"), "No store at", "--store")
    _assert_clean_error(invoke("models"), "nifgraph run")
    assert not Path(os.environ["NIFGRAPH_STORE"]).exists()
    _assert_clean_error(invoke("run", "--hidden", "5,x"), "--hidden")
    _assert_clean_error(invoke("run", "--estimator", "nope"), "'estimator' parameter", "mine")
    _assert_clean_error(invoke("run", "--activation", "swish"), "activation")
    _assert_clean_error(invoke("run", "--hidden", "5,,5"), "--hidden", "empty")
    # estimator options are checked before anything is trained or stored
    _assert_clean_error(invoke("run", "--steps", "0"), "'steps' parameter", "mine")
    _assert_clean_error(invoke("run", "--option", "foo=1"), "unknown option", "foo")
    _assert_clean_error(invoke("run", "--tolerance", "2"), "'tolerance' parameter")
    assert stored_models() == []
    _assert_clean_error(invoke("show", "m-nothere"), "nifgraph models")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--hidden", "100000000"), "weights"),
        (("--hidden", "20000,20000"), "weights"),
        (("--dropout", "1.5"), "dropout"),
        (("--activation", "foo"), "activation"),
    ],
)
def test_bad_training_options_fail_before_any_work(args, needle):
    res = invoke("train", *args)
    one_line_error(res, needle)  # one line: no progress bar drawn before the error
    assert stored_models() == []

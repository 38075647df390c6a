"""Mistakes a new user made in a trial (stop 27), each answered by one line that names the
problem and the fix, and nothing stored."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

import nifgraph.mi as mi
from nifgraph.errors import ValidationError

from .conftest import invoke, stored_models


def _one_line(res, *needles):
    lines = res.output.strip().splitlines()
    assert res.exit_code == 1 and len(lines) == 1 and "Traceback" not in res.output, res.output
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def test_a_python_source_file_is_not_called_a_pickle(tmp_path):
    src = tmp_path / "make_models.py"
    src.write_text("import torch\nmodel = torch.nn.Linear(4, 3)\n")
    line = _one_line(invoke("train", "--model-file", str(src)), "make_models.py is not a PyTorch model file", ".pt2")
    assert "pickle" not in line.split(";")[0] or "neither" in line
    assert stored_models() == []


def test_a_dict_holding_the_network_names_the_key(tmp_path):
    torch.save({"model": nn.Sequential(nn.Linear(4, 3)), "epoch": 3}, tmp_path / "ckpt.pt")
    _one_line(invoke("train", "--model-file", str(tmp_path / "ckpt.pt"), "--trust-model-file"),
              "a dict with a network under 'model'", "torch.save(d['model'], path)")
    torch.save(nn.Sequential(nn.Linear(4, 3)).state_dict(), tmp_path / "sd.pt")  # a real state_dict: as before
    _one_line(invoke("train", "--model-file", str(tmp_path / "sd.pt")), "state_dict")


def test_a_one_logit_binary_head_gets_the_two_logit_fix(tmp_path):
    x = torch.randn(4, 30)
    torch.export.save(torch.export.export(nn.Sequential(nn.Linear(30, 4), nn.ReLU(), nn.Linear(4, 1)).eval(), (x,)),
                      tmp_path / "binary.pt2")
    _one_line(invoke("train", "--model-file", str(tmp_path / "binary.pt2"), "--dataset", "breast-cancer"),
              "1 outputs", "2 classes", "two logits", "-w/2 and w/2")
    torch.save(nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2)), tmp_path / "two.pt")
    _one_line(invoke("train", "--model-file", str(tmp_path / "two.pt"), "--trust-model-file"),
              "2 outputs", "3 classes", "one output per class")
    assert stored_models() == []


def test_dataset_and_csv_together_are_refused(tmp_path):
    rng = np.random.default_rng(0)
    rows = ["a,b,label"] + [f"{rng.normal():.3f},{rng.normal():.3f},{i % 2}" for i in range(40)]
    (tmp_path / "small.csv").write_text("\n".join(rows) + "\n")
    _one_line(invoke("train", "--dataset", "wine", "--csv", str(tmp_path / "small.csv"), "--target", "label"),
              "either --dataset or --csv", "--dataset wine")
    assert stored_models() == []
    res = invoke("train", "--csv", str(tmp_path / "small.csv"), "--target", "label", "--epochs", "2")
    assert res.exit_code == 0, res.output  # --csv alone, as before


def test_options_for_an_estimator_without_options_and_too_few_samples():
    with pytest.raises(ValidationError, match=r"estimator takes no options; drop steps\."):
        mi.check_options("gcmi", {"steps": 100})
    with pytest.raises(ValidationError) as exc:
        mi.pairwise(np.zeros((0, 2)), np.zeros((0, 2)), method="gcmi")
    assert "needs at least 3 samples" in str(exc.value) and "pick method='gcmi'" not in str(exc.value)
    with pytest.raises(ValidationError, match=r"pick method='gcmi' \(it needs 3\)"):
        mi.pairwise(np.zeros((5, 2)), np.zeros((5, 2)), method="mine")


def test_compare_names_its_attribution_and_flags_mixed_estimators():
    """compare's top features and rank agreement are of the path product (the paper's A, close
    to class-blind), not of the class-specific default of `attribution`; a pair of runs of
    different estimators is flagged (its agreement mixes two differences)."""
    from .conftest import train_iris

    a, b = train_iris(), train_iris()
    for mid, est in ((a, "gcmi"), (b, "ksg")):
        assert invoke("estimate", mid, "--estimator", est).exit_code == 0
    res = invoke("compare", a, b, "--details")
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "path-product attributions" in out and "top features per class (path product)" in out
    assert "(differ)" in out and "1 pair compares runs of different estimators" in out
    assert "class-specific default (flow_dpi)" in out
    res = invoke("compare", a, b)
    assert "1 pair compares runs of different estimators" in " ".join(res.output.split())


# -- a second trial (stop 28) ------------------------------------------------------------
def test_a_pickled_model_of_a_class_nifgraph_cannot_import_is_one_line(tmp_path, monkeypatch):
    """torch.save(model) of a class defined in the user's script: unpickling needs the class;
    and a class that can be imported but is not an nn.Sequential chain gets the export fix."""
    import importlib
    import sys

    src = tmp_path / "user_models_tmp.py"
    src.write_text("import torch\nclass CNN(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                   "        self.conv = torch.nn.Conv2d(1, 2, 3)\n    def forward(self, x):\n        return self.conv(x)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    mod = importlib.import_module("user_models_tmp")
    torch.save(mod.CNN(), tmp_path / "cnn_whole.pt")
    _one_line(invoke("train", "--model-file", str(tmp_path / "cnn_whole.pt"), "--trust-model-file", "-d", "digits"),
              "got CNN", "nn.Sequential chains of Linear layers", "torch.export.save(")
    monkeypatch.delitem(sys.modules, "user_models_tmp")
    src.unlink()  # as in a new process, where the user's script is not __main__
    _one_line(invoke("train", "--model-file", str(tmp_path / "cnn_whole.pt"), "--trust-model-file", "-d", "digits"),
              "a class nifgraph cannot import", "user_models_tmp", "torch.export.save(")
    torch.save(mod.CNN().state_dict(), tmp_path / "state.pt")
    _one_line(invoke("train", "--model-file", str(tmp_path / "state.pt"), "-d", "digits"), "state_dict", "torch.export.save(")
    assert stored_models() == []


def test_a_model_exported_in_training_mode_or_without_a_hidden_layer_is_refused(tmp_path):
    x = torch.randn(8, 1, 8, 8)
    cnn = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(256, 10))
    torch.export.save(torch.export.export(cnn.train(), (x,)), tmp_path / "train_mode.pt2")
    _one_line(invoke("train", "--model-file", str(tmp_path / "train_mode.pt2"), "-d", "digits"),
              "exported in training mode", "batch_norm", "model.eval()")
    mlp = nn.Sequential(nn.Linear(13, 5), nn.ReLU(), nn.Dropout(0.5), nn.Linear(5, 3))
    torch.export.save(torch.export.export(mlp.train(), (torch.randn(4, 13),)), tmp_path / "dropout.pt2")
    _one_line(invoke("train", "--model-file", str(tmp_path / "dropout.pt2"), "-d", "wine"),
              "exported in training mode", "drops units at random", "model.eval()")
    torch.export.save(torch.export.export(mlp.eval(), (torch.randn(4, 13),)), tmp_path / "eval.pt2")
    assert invoke("train", "--model-file", str(tmp_path / "eval.pt2"), "-d", "wine").exit_code == 0  # the same, in eval mode
    torch.export.save(torch.export.export(nn.Linear(13, 3).eval(), (torch.randn(4, 13),)), tmp_path / "linear.pt2")
    _one_line(invoke("train", "--model-file", str(tmp_path / "linear.pt2"), "-d", "wine"), "no hidden layer (13-3)")
    assert len(stored_models()) == 1


def test_training_options_beside_a_model_file_and_target_without_csv_are_refused(tmp_path):
    torch.save(nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3)), tmp_path / "mlp.pt")
    _one_line(invoke("train", "--model-file", str(tmp_path / "mlp.pt"), "--trust-model-file", "--epochs", "50",
                     "--hidden", "5", "--arch", "resnet"),
              "--hidden, --epochs, --arch set how nifgraph trains", "drop them")
    _one_line(invoke("train", "--target", "label"), "--target names the class column of a --csv file", "--csv FILE")
    assert stored_models() == []


def test_a_damaged_store_is_one_line_and_left_as_it_was(tmp_path):
    import hashlib

    from nifgraph.store import open_store

    good = tmp_path / "good.duckdb"
    assert invoke("train", "--epochs", "2", "--store", str(good)).exit_code == 0
    data = good.read_bytes()
    cut, flipped = tmp_path / "cut.duckdb", tmp_path / "flipped.duckdb"
    cut.write_bytes(data[: len(data) // 2])
    flipped.write_bytes(data[:12288] + b"\xff" * (len(data) - 12288))  # every block after the headers
    for path, commands in ((cut, [("models",)]), (flipped, [("models",), ("train", "--epochs", "2")])):
        before = hashlib.sha256(path.read_bytes()).hexdigest()
        for args in commands:  # (a cut-off file whose catalogue still reads is found when a read reaches the cut)
            _one_line(invoke(*args, "--store", str(path)), f"Store {path} is damaged", "restore it from a copy")
        assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    with open_store(str(good)) as st:  # the original is fine
        assert len(st.list_models()) == 1


def test_a_job_on_a_store_it_cannot_write_fails_before_the_work(tmp_path, monkeypatch):
    """A read-only store file (here: DuckDB refusing the write connection, as on a read-only
    mount) fails in one line before any estimation; reading it still works."""
    import duckdb

    import nifgraph.pipeline as pipeline
    import nifgraph.store.duckdb as embedded

    store = str(tmp_path / "s.duckdb")
    assert invoke("train", "--epochs", "2", "--store", store).exit_code == 0
    real = embedded.duckdb.connect

    def connect(path, read_only=False, **kw):
        if not read_only:
            raise duckdb.IOException(f'IO Error: Cannot open file "{path}": Read-only file system')
        return real(path, read_only=read_only, **kw)

    monkeypatch.setattr(embedded.duckdb, "connect", connect)
    calls = []
    monkeypatch.setattr(pipeline, "estimate_run", lambda *a, **k: calls.append(1))
    _one_line(invoke("estimate", "latest", "-e", "gcmi", "--store", store), "Read-only file system", "writable location")
    assert calls == []
    assert invoke("models", "--store", store).exit_code == 0


def test_left_out_models_get_the_command_that_fixes_them_and_json_names_the_run(tmp_path):
    """compare --all: a model without any run needs `estimate`, not `analyze`; attribution and
    prune --curve --json carry model_id and run_id at the top; models marks a CNN as conv; a
    program returning (logits, probabilities) is noted as read by its first output."""
    import json

    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 6), nn.Linear(6, 3)

        def forward(self, x):
            z = self.b(torch.relu(self.a(x)))
            return z, torch.softmax(z, 1)

    torch.export.save(torch.export.export(Two().eval(), (torch.randn(4, 4),)), tmp_path / "two.pt2")
    res = invoke("train", "--model-file", str(tmp_path / "two.pt2"), "--json")
    assert res.exit_code == 0, res.output
    assert any("returns 2 outputs; nifgraph reads the first" in n for n in json.loads(res.stdout)["notes"])
    _one_line(invoke("compare", "--all"), "1 stored model(s) have none: nifgraph estimate MODEL")
    res = invoke("run", "--epochs", "30", "--estimator", "gcmi", "--no-plot", "--json")
    assert res.exit_code == 0, res.output
    run = json.loads(res.stdout)
    res = invoke("compare", "--all")
    assert res.exit_code == 0 and "left out 1 model(s) without an analysed run (nifgraph estimate MODEL)" in " ".join(res.output.split())
    for args in (("attribution", "latest", "--json"), ("prune", "latest", "--curve", "--seeds", "1", "--json")):
        res = invoke(*args)
        assert res.exit_code == 0, res.output
        d = json.loads(res.stdout)
        assert (d["model_id"], d["run_id"]) == (run["model_id"], run["run_id"]), args
    x = torch.randn(4, 1, 8, 8)
    cnn = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(128, 10)).eval()
    torch.export.save(torch.export.export(cnn, (x,)), tmp_path / "cnn.pt2")
    assert invoke("train", "--model-file", str(tmp_path / "cnn.pt2"), "-d", "digits").exit_code == 0
    kinds = {r["name"]: r["kind"] for r in json.loads(invoke("models", "--json").stdout)}
    assert kinds["cnn"] == "conv" and kinds["two"] == "mlp"


def test_a_name_shared_by_several_models_lists_their_ids():
    """Each `run` stores a new model, so two runs of one configuration share a default name:
    the name is refused in one line that lists both ids (a prefix of one still works)."""
    from nifgraph.store import open_store

    from .store_fixtures import make_model

    with open_store() as st:
        ids = []
        for _ in range(2):
            model, neurons = make_model(name="iris-4-5-3-relu-s0")
            st.put_model(model, neurons)
            ids.append(model.model_id)
    line = _one_line(invoke("show", "iris-4-5-3-relu-s0"), "2 models are named 'iris-4-5-3-relu-s0'", ids[0], ids[1], "--name")
    assert line.startswith("NotFoundError: ")
    res = invoke("models", "--json")
    assert res.exit_code == 0 and {m["model_id"] for m in json.loads(res.stdout)} >= set(ids)


def test_brackets_in_names_columns_and_classes_are_printed_as_they_are(tmp_path):
    """Rich markup is off: a model called ``[bold]fancy``, a CSV column ``petal [/] len`` and a class
    ``a[/]`` used to be eaten as markup or crash the report (``MarkupError``) and every later
    ``models``; they are data and are printed literally."""
    from sklearn.datasets import load_iris

    iris = load_iris()
    cols = ["sepal length [cm]", "sepal width", "petal [/] len", "petal width"]
    lines = [",".join([*cols, "label"])]
    names = ["b[x]", "a[/]", "[bold]c"]
    lines += [",".join([*(f"{v:.1f}" for v in row), names[t]]) for row, t in zip(iris.data, iris.target, strict=True)]
    csv = tmp_path / "brackets.csv"
    csv.write_text("\n".join(lines) + "\n")
    res = invoke("run", "--csv", str(csv), "--target", "label", "--epochs", "30", "--estimator", "gcmi", "--name", "br[/]")
    assert res.exit_code == 0, res.output
    for text in ("sepal length [cm]", "petal [/] len", "b[x]", "a[/]", "[bold]c", "br[/]"):
        assert text in res.output, text
    res = invoke("train", "--dataset", "iris", "--epochs", "2", "--name", "[bold]fancy")
    assert res.exit_code == 0 and "([bold]fancy," in res.output, res.output
    res = invoke("models")
    assert res.exit_code == 0 and "[bold]fancy" in res.output and "br[/]" in res.output, res.output


def test_a_fit_table_measures_and_prints_brackets_literally():
    from rich.console import Console
    from rich.text import Text

    from nifgraph.render.layout import Col, FitTable

    t = FitTable([Col("name [x]"), Col("flag")], [["z[/]", Text("yes", style="bold red")], ["[bold]w", ""]])
    out = Console(width=80, record=True, markup=False)
    out.print(t)
    text = out.export_text()
    assert "name [x]" in text and "z[/]" in text and "[bold]w" in text and "yes" in text
    assert t._natural(0, False) == len("name [x]")  # brackets count as the characters they are


def test_an_interrupted_delete_on_the_embedded_store_deletes_nothing_and_says_so(monkeypatch):
    """Ctrl-C inside the deletion's transaction: rolled back, the model and its run still there,
    and the message says so."""
    from nifgraph.store.duckdb import DuckDBStore

    res = invoke("train", "--dataset", "iris", "--epochs", "2", "--name", "keep-me")
    assert res.exit_code == 0, res.output
    assert invoke("estimate", "keep-me", "--estimator", "gcmi").exit_code == 0

    def interrupted(self, model_id):
        with self._tx() as con:
            con.execute("DELETE FROM edges")
            raise KeyboardInterrupt

    real = DuckDBStore.delete_model
    monkeypatch.setattr(DuckDBStore, "delete_model", interrupted)
    res = invoke("delete", "keep-me", "--yes")
    assert res.exit_code == 130 and "nothing was deleted" in res.output, res.output
    monkeypatch.setattr(DuckDBStore, "delete_model", real)
    res = invoke("show", "keep-me", "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["run"] is not None, res.output


@pytest.mark.parametrize("name,needle", [
    ("latest", "'the model last worked on'"), ("  spaced  ", "--name 'spaced'"), ("m-4ecf", "shape of a model or run id"),
    ("r-e9a7", "shape of a model or run id"), ("m", "shape of a model or run id"), ("   ", "non-empty"),
])
def test_a_model_name_no_lookup_could_find_is_refused_before_training(name, needle):
    from .conftest import one_line_error

    one_line_error(invoke("train", "--dataset", "iris", "--epochs", "2", "--name", name), "--name", needle)
    assert stored_models() == []


def test_compare_of_a_data_set_no_model_has_names_the_ones_stored():
    from .conftest import one_line_error

    assert invoke("train", "--dataset", "iris", "--epochs", "2").exit_code == 0
    one_line_error(invoke("compare", "--dataset", "nosuch"), "No stored model is of data set 'nosuch'", "iris")


def test_a_query_parameter_given_twice_is_refused():
    from .conftest import one_line_error

    one_line_error(invoke("query", "central_neurons", "-p", "model_id=a", "-p", "model_id=b", "-p", "limit=1"),
                   "--param model_id is given twice")


def test_an_imported_file_named_like_latest_gets_a_name_lookups_can_find(tmp_path):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))
    path = tmp_path / "latest.pt"
    torch.save(net, path)
    res = invoke("train", "--model-file", str(path), "--trust-model-file", "--dataset", "iris", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["name"] == "latest-imported"
    assert invoke("show", "latest-imported").exit_code == 0

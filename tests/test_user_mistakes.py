"""Mistakes a new user made in a trial (stop 27), each answered by one line that names the
problem and the fix, and nothing stored."""

from __future__ import annotations

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

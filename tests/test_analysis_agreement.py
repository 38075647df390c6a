"""Agreement of two runs (nifgraph.analysis.agreement): decision agreement, significant counts,
Spearman of the values, flips named by neuron, and refusal of runs over different edges."""

from __future__ import annotations

import pandas as pd
import pytest

from nifgraph.analysis.agreement import agreement
from nifgraph.errors import ValidationError


def test_agreement_counts_and_names():
    key = pd.DataFrame({"src_layer": [0, 0, 0, 1], "src_idx": [0, 0, 1, 0],
                        "dst_layer": [1, 1, 1, 2], "dst_idx": [0, 1, 0, 0]})
    a = key.assign(value=[0.5, 0.1, 0.0, 0.3], q_value=[0.001, 0.2, 1.0, 0.01])
    b = key.assign(value=[0.2, 0.4, 0.01, 0.3], q_value=[0.001, 0.01, 1.0, 0.01])
    neurons = pd.DataFrame({"layer": [0, 0, 1, 1, 2], "idx": [0, 1, 0, 1, 0],
                            "name": ["f0", "f1", "h1_0", "h1_1", "c0"]})
    ag = agreement(a, b, alpha=0.05, neurons=neurons)
    assert ag.decision_agreement == 0.75 and ag.n_significant_a == 2 and ag.n_significant_b == 3
    assert ag.spearman == pytest.approx(0.2)  # rank differences 2, -2, 0, 0
    f = ag.flips.iloc[0]
    assert (f.src_name, f.dst_name, bool(f.significant_a), bool(f.significant_b)) == ("f0", "h1_1", False, True)
    with pytest.raises(ValidationError, match="same edges"):
        agreement(a, b.iloc[:3])

"""Safe pruning recommendation: verify candidate units by removing them on held-out data.

Information tests (the flow rule of :func:`nifgraph.analysis.local.prunable`, the unit-level
tests of :mod:`nifgraph.analysis.unit_information`) say which units *look* empty; whether the
network can do without them is a question about the fixed downstream weights, answered
here by intervention. Every candidate is removed with the mean fold
(:mod:`nifgraph.analysis.removal`, means from the reference -- training -- inputs) and judged on
held-out data:

1. each candidate alone: its *drop* ``acc_before - acc(without it)``;
2. greedy set: candidates in order of least harm (smallest drop alone; ties in the order
   given), each added to the recommended set if the set's held-out accuracy drop stays
   ``≤ tolerance``; otherwise it is *rejected* and reported with its drop alone and the
   drop the set would have had with it.

So the recommended set never costs more than ``tolerance`` on the held-out data it was
checked on, and a unit that looked empty but is needed is named with its measured cost.

The default tolerance, 0.005 (half a percentage point), is under one held-out sample on the
test splits of iris, wine and breast-cancer (45 to 171 samples: "not one more sample
misclassified, net") and 2 to 3 samples on digits (540) and banknote (412). It sits well below the
run-to-run spread of retraining (about one point), so a recommendation does not trade
accuracy for size unless the user asks for it with a larger tolerance. Note that the
check uses the held-out data itself, so the accuracy after is an optimistic estimate for
new data by at most the selection among the candidates; keep a third split when that
matters.

Pure: a network and arrays in, a frozen dataclass out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ValidationError, param_error
from ..settings import DEFAULT_TOLERANCE
from .removal import replacement_values

__all__ = ["DEFAULT_TOLERANCE", "Rejected", "Recommendation", "recommend", "prune_decision", "save_pruned"]

_EPS = 1e-12


@dataclass(frozen=True)
class Rejected:
    """A candidate that looked empty but is needed: its accuracy drop alone, and the drop
    of the recommended set with it added (both on the held-out data)."""

    unit: tuple[int, int]
    drop_alone: float
    drop_with_set: float


@dataclass(frozen=True)
class Recommendation:
    """Which candidate units can be removed within ``tolerance`` of held-out accuracy."""

    candidates: tuple[tuple[int, int], ...]
    recommended: tuple[tuple[int, int], ...]
    rejected: tuple[Rejected, ...]
    accuracy_before: float
    accuracy_after: float
    tolerance: float
    drops: dict[tuple[int, int], float] = field(default_factory=dict, repr=False)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def drop(self) -> float:
        """Held-out accuracy drop of the recommended set (≤ tolerance)."""
        return self.accuracy_before - self.accuracy_after

    def to_dict(self) -> dict[str, Any]:
        return {
            "candidates": [list(u) for u in self.candidates],
            "recommended": [list(u) for u in self.recommended],
            "rejected": [
                {"unit": list(r.unit), "drop_alone": r.drop_alone, "drop_with_set": r.drop_with_set}
                for r in self.rejected
            ],
            "accuracy_before": self.accuracy_before, "accuracy_after": self.accuracy_after,
            "drop": self.drop, "tolerance": self.tolerance,
            "drops": [{"unit": list(u), "drop": d} for u, d in self.drops.items()],
            "settings": self.settings,
        }


def recommend(
    net: Any,
    candidates: Sequence[tuple[int, int]],
    x_ref: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    removal: str = "mean",
) -> Recommendation:
    """Verify candidate units by removal and recommend a set within ``tolerance``.

    Parameters
    ----------
    net : nifgraph.network.Network
    candidates : sequence of (layer, idx)
        Hidden units flagged as carrying no information (any source; duplicates dropped).
    x_ref : ndarray, shape (n_ref, n_inputs)
        Reference inputs for the removal means (the training split).
    x_val : ndarray, shape (n_val, n_inputs)
    y_val : ndarray, shape (n_val,)
        Held-out samples and labels that judge every removal.
    tolerance : float
        Largest allowed held-out accuracy drop, in [0, 1) (default 0.005, see module docstring).
    removal : {"mean", "zero"}
        Removal protocol; ``"zero"`` only to compare with plain zeroing.

    Returns
    -------
    Recommendation
    """
    from ..network import accuracy, pruned
    from .pruning import hidden_neurons

    if not (isinstance(tolerance, (int, float)) and not isinstance(tolerance, bool) and 0 <= tolerance < 1):
        raise param_error("tolerance", "recommend", "a number in [0, 1)", tolerance)
    y_val = np.asarray(y_val)
    if np.asarray(x_val).shape[0] != y_val.shape[0] or y_val.size == 0:
        raise ValidationError(
            f"x_val has {np.asarray(x_val).shape[0]} rows but y_val has {y_val.shape[0]}; pass the same held-out samples."
        )
    valid = set(hidden_neurons(net.layer_sizes))
    cands = list(dict.fromkeys((int(a), int(b)) for a, b in candidates))
    bad = [u for u in cands if u not in valid]
    if bad:
        raise ValidationError(f"Candidates {bad[:3]} are not hidden units of a {net.layer_sizes} network; pass (layer, idx) with 0 < layer < {len(net.layer_sizes) - 1}.")
    if hasattr(net, "masked_program"):  # a DAG model (nifgraph.dag.FlowDag): units replaced inside its graph
        means = replacement_values(net, x_ref, removal) or [np.zeros(n) for n in net.layer_sizes]
        before = net.accuracy(x_val, y_val)

        def acc_without(units: list[tuple[int, int]]) -> float:
            return net.accuracy(x_val, y_val, units, means) if units else before
    else:
        means = replacement_values(net, x_ref, removal)
        before = accuracy(net, x_val, y_val)

        def acc_without(units: list[tuple[int, int]]) -> float:
            return accuracy(pruned(net, units, means=means), x_val, y_val) if units else before

    drops = {u: before - acc_without([u]) for u in cands}
    order = sorted(range(len(cands)), key=lambda i: (drops[cands[i]], i))
    kept: list[tuple[int, int]] = []
    rejected: list[Rejected] = []
    after = before
    for i in order:
        u = cands[i]
        acc = acc_without([*kept, u])
        d = before - acc
        if d <= tolerance + _EPS:
            kept.append(u)
            after = acc
        else:
            rejected.append(Rejected(unit=u, drop_alone=float(drops[u]), drop_with_set=float(d)))
    return Recommendation(
        candidates=tuple(cands), recommended=tuple(kept), rejected=tuple(rejected),
        accuracy_before=float(before), accuracy_after=float(after), tolerance=float(tolerance),
        drops={u: float(d) for u, d in drops.items()},
        settings={
            "removal": removal, "order": "least harm alone first, greedy within tolerance",
            "n_reference": int(np.asarray(x_ref).shape[0]) if x_ref is not None else 0,
            "n_validation": int(y_val.size),
        },
    )


def prune_decision(
    net: Any,
    acts: Sequence[np.ndarray],
    flagged: Sequence[tuple[int, int]],
    x_ref: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    alpha: float = 0.05,
    seed: int = 0,
) -> tuple[Recommendation, tuple[tuple[int, int], ...]]:
    """The main job's pruning decision: candidates, then verification.

    A hidden unit is a *candidate* when the flow rule ``flagged`` it (no edge in or out above
    the threshold / none significant) **and** the unit-level test
    (:func:`~nifgraph.analysis.unit_information.unit_information` on ``acts``, BH at
    ``alpha``) finds no information between it and its whole input layer or its whole output
    layer -- "no significant edge" alone is not "no information" on wide layers. Candidates
    are then verified by :func:`recommend` on held-out data within ``tolerance``. On a DAG
    model (:class:`nifgraph.dag.FlowDag`) a unit's input and output layers are every layer
    that feeds its own and every layer its own feeds (:attr:`~nifgraph.dag.FlowDag.pairs`).

    Returns the recommendation and the units the unit-level test found uninformative.
    """
    from .unit_information import unit_information

    info = unit_information(acts, alpha=alpha, seed=seed, pairs=getattr(net, "pairs", None))
    empty = set(info.candidates)
    candidates = [u for u in dict.fromkeys((int(a), int(b)) for a, b in flagged) if u in empty]
    rec = recommend(net, candidates, x_ref, x_val, y_val, tolerance=tolerance)
    return rec, tuple(sorted(empty))


def check_save_path(path: str) -> Any:
    """``path`` as a :class:`~pathlib.Path` a new file can be written to, or a one-line error."""
    import os
    from pathlib import Path

    if not str(path).strip():
        raise ValidationError("--save needs a file path, e.g. pruned.pt2.")
    target = Path(path).expanduser()
    if target.is_dir() or not target.parent.is_dir():
        raise ValidationError(f"Cannot write {target}: give a file path in an existing folder, e.g. pruned.pt2.")
    if target.exists() or target.is_symlink():  # never replace a file (the store, the model file itself)
        raise ValidationError(f"{target} already exists; remove it or choose another path (--save never overwrites).")
    if not os.access(target.parent, os.W_OK):
        raise ValidationError(f"Cannot write {target}: the folder is not writable; choose another path.")
    return target


def save_pruned(
    store: Any, model: Any, analysis: Any, path: str, *, network: Any = None, dataset: Any = None
) -> dict[str, Any]:
    """Write the recommended pruning of ``analysis`` as a ``torch.export`` program at ``path``
    (load it with ``torch.export.load(path).module()``).

    A chain (MLP) model becomes a smaller network (:func:`~nifgraph.network.shrunk` with the
    training-split means the verification used). A DAG model (convolutions, skip paths) has each
    removed unit cut out of its graph where that is exact (:func:`nifgraph.dag_shrink.shrunk_program`:
    the unit's weights deleted, its constant folded into the readers' biases) and, in layers where
    it is not (a residual add or a cat reads the unit, a zero-padding conv reads a nonzero
    constant), overwritten by its constant inside the graph, shapes unchanged
    (``form``: shrunk, mixed or masked; ``masked_layers`` says why). The
    file is written only if the program reproduces the verified held-out accuracy and the pruned
    model's predictions on every held-out sample, whole or not at all, never over a file.
    Returns what was written: the path, both architectures and parameter counts, every removed
    unit with its constant and whether it was cut, the channels of depthwise convolutions cut
    along with a channel they read (``also_cut``), the accuracy. ``network`` / ``dataset``: the model's, when the caller has them
    loaded already."""
    import torch

    from ..network import pruned, shrunk
    from ..stored import load_model_network, model_dataset

    units = analysis.prunable
    if not units:
        raise ValidationError(f"Run {analysis.run_id} recommends no unit for removal; there is nothing to save.")
    target = check_save_path(path)
    net = network if network is not None else load_model_network(model, store)
    ds = dataset if dataset is not None else model_dataset(model)
    means = replacement_values(net, ds.x_train, "mean")
    x_test = np.asarray(ds.x_test)
    why_masked: dict[int, str] = {}
    if hasattr(net, "masked_program"):  # a DAG model: cut where exact, the rest masked inside its graph
        from ..dag import run_program
        from ..dag_shrink import shrunk_program

        cut = shrunk_program(net, units, means, ds.x_train)
        program, why_masked, cut_units, also_cut = cut.program, cut.why_masked, set(cut.cut), cut.also_cut
        want = net.logits(x_test, units, means).argmax(axis=1)
        shaped = torch.as_tensor(x_test, dtype=torch.float32).reshape(len(x_test), *net.input_shape)
        pred = run_program(program, shaped).argmax(dim=1).numpy()
        after = "-".join(map(str, cut.layer_sizes))
        form = "shrunk" if not cut.masked else "masked" if not cut.cut else "mixed"
        n_before = sum(int(t.numel()) for t in net.program.parameters())
    else:
        small = shrunk(net, units, means)
        pred = small.predict(x_test)
        want = pruned(net, units, means=means).predict(x_test)
        x = torch.as_tensor(x_test[:2], dtype=torch.float32)
        program = torch.export.export(small.module, (x,), dynamic_shapes=({0: torch.export.Dim.AUTO},))
        after, form, cut_units, also_cut = "-".join(map(str, small.layer_sizes)), "shrunk", set(units), ()
        n_before = sum(int(t.numel()) for t in net.module.parameters())
    acc = float((pred == np.asarray(ds.y_test)).mean())
    if not np.array_equal(pred, want) or abs(acc - float(analysis.accuracy_after)) > 1e-12:
        raise ValidationError(  # pragma: no cover - a model changed under its analysis
            f"The pruned program gives held-out accuracy {acc:.4f}, not the verified {analysis.accuracy_after:.4f}; "
            f"nothing was saved. Re-run `nifgraph prune {model.model_id}`."
        )
    _write_new(target, lambda tmp: torch.export.save(program, tmp))
    return {
        "path": str(target), "model_id": model.model_id, "run_id": analysis.run_id, "form": form,
        "architecture_before": "-".join(map(str, net.layer_sizes)), "architecture_after": after,
        "removed": [{"layer": la, "idx": i, "folded_constant": float(means[la][i]), "cut": (la, i) in cut_units}
                    for la, i in units],
        "masked_layers": [{"layer": la, "why": why} for la, why in sorted(why_masked.items())],
        "also_cut": [{"layer": la, "idx": i} for la, i in also_cut],
        "parameters_before": n_before, "parameters_after": sum(int(t.numel()) for t in program.parameters()),
        "accuracy_before": float(analysis.accuracy_before), "accuracy_after": acc,
        "input_shape": list(getattr(net, "input_shape", ()) or (net.layer_sizes[0],)),
        "inputs": "(x - input_mean) / input_scale, the training split's statistics" if ds.standardized else "raw features",
        "input_mean": np.asarray(ds.mean, dtype=float).tolist(), "input_scale": np.asarray(ds.scale, dtype=float).tolist(),
    }


def _write_new(target: Any, write: Any) -> None:
    """``write(tmp_path)`` into a temporary file beside ``target``, then link it to ``target``:
    the file appears whole, and never over one that appeared meanwhile."""
    import os
    import tempfile

    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".pruned-", suffix=target.suffix or ".tmp", dir=str(target.parent))
        os.close(fd)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as any new file (mkstemp makes it private)
        write(tmp)
        os.link(tmp, target)
    except FileExistsError:
        raise ValidationError(f"{target} already exists; remove it or choose another path (--save never overwrites).") from None
    except OSError as exc:
        raise ValidationError(f"Cannot write {target} ({exc.strerror or type(exc).__name__}); choose another path.") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)

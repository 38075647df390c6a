#!/usr/bin/env python
"""Reproduce the NIF paper's experiments (Davis et al. 2019) and go past them.

    python scripts/reproduce_paper.py            # full run: writes docs/results.md, docs/figures/
    python scripts/reproduce_paper.py --quick    # CI smoke run (≤ 3 min), asserts what it can,
                                                 # writes into a temporary folder unless --results

Every number in the results file is computed here, from a clean temporary store. Sections:

1. the paper's networks (Iris 4-5-3, Banknote 4-5-2 and 4-5-5-2; ReLU, Adam): accuracy per
   seed, NIF figures, the pruning decision per network (flow-flagged, candidates, verified),
   and why each flagged neuron carries no flow;
2. pruning: nifgraph's decision (flow-rule flags ∩ unit-level "no information" test, verified
   by mean-fold removal on held-out data within the tolerance) against the paper's "remove
   every flagged neuron"; pruning curves of every order (greedy_kl, the default, std_wout,
   mi_output, nif, betweenness, magnitude, random) on those networks and on digits 64-128-64-10;
3. attribution: class_flow (the default of ``nifgraph attribution``) and the paper's NIF path
   product against SHAP, Integrated Gradients and raw MI (K-S read the right way, Spearman,
   deletion AUC, per-class deletion AUC, class specificity);
4. information flow and architecture (dropout, tanh, wider, deeper);
5. ``nifgraph compare`` on the stored models;
6. the paper's residual question: information flow through a residual block against the same
   block without its skip, with and without dropout, at two depths, with the significance
   null and intervals over seeds (``scripts/residual_flow.py``'s experiment, which also writes
   docs/residual_flow.md).

The results file records :func:`source_hash` of the sources that produce its numbers;
``tests/test_results_fresh.py`` fails when they change without the file being regenerated.

The split seed and the training seed are the same number (as ``nifgraph run --seed``).
Needs ``NIFGRAPH_BANKNOTE_CSV`` (or network access) for Banknote.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import hashlib
import os
import pickle
import platform
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results.md"
FIGURES = ROOT / "docs" / "figures"
#: How to regenerate the results file (Banknote from NIFGRAPH_BANKNOTE_CSV, default ../shared/data/banknote.csv).
REGENERATE = "python scripts/reproduce_paper.py"


# -- freshness -------------------------------------------------------------------------------
#: Sources that produce numbers: this script and the package, without presentation (the CLI
#: and the renderers draw the figures but compute nothing that the results file reports).
SOURCE_EXCLUDE = ("nifgraph/cli/", "nifgraph/render/")
HASH_LINE = "Sources hash"


def source_files(root: Path = ROOT) -> list[Path]:
    """The files :func:`source_hash` covers, in sorted (POSIX relative path) order."""
    files = [root / "scripts" / "reproduce_paper.py"]
    if (root / "scripts" / "residual_flow.py").is_file():  # section 6's experiment
        files.append(root / "scripts" / "residual_flow.py")
    for f in (root / "nifgraph").rglob("*.py"):
        rel = f.relative_to(root).as_posix()
        if not rel.startswith(SOURCE_EXCLUDE):
            files.append(f)
    return sorted(files, key=lambda f: f.relative_to(root).as_posix())


def normalized_source(text: str) -> str:
    """``ast.dump`` of a module with every docstring removed (module, class, function).

    Comments, docstrings, blank lines and layout do not reach the dump (no line numbers
    either); any change to the code does. The dump format belongs to the Python version, so
    the hash is comparable only under the same minor version (the results file says which)."""
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:]
    return ast.dump(tree, annotate_fields=True, include_attributes=False)


def source_hash(root: Path = ROOT, files: list[Path] | None = None) -> str:
    """SHA-256 over ``path NUL normalised source NUL`` of every file of :func:`source_files`."""
    h = hashlib.sha256()
    for f in files if files is not None else source_files(root):
        h.update(f.relative_to(root).as_posix().encode() + b"\0")
        h.update(normalized_source(f.read_text(encoding="utf-8")).encode() + b"\0")
    return h.hexdigest()


def recorded_hash(text: str) -> str | None:
    """The hash a results file records on its ``Sources hash:`` line (None: no such line)."""
    m = re.search(rf"^{HASH_LINE}: `?([0-9a-f]{{64}})`?", text, flags=re.MULTILINE)
    return m.group(1) if m else None


# -- settings ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Spec:
    """One network to train: data set, hidden layers, activation, dropout, epochs."""

    label: str
    dataset: str
    hidden: tuple[int, ...]
    activation: str = "relu"
    dropout: float = 0.0
    epochs: int = 200
    batch_size: int = 16
    lr: float = 0.01

    def config(self, seed: int):
        from nifgraph.network import TrainConfig

        return TrainConfig(hidden=self.hidden, activation=self.activation, dropout=self.dropout,
                           epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, seed=seed)


PAPER = (
    Spec("iris 4-5-3", "iris", (5,)),
    Spec("banknote 4-5-2", "banknote", (5,)),
    Spec("banknote 4-5-5-2", "banknote", (5, 5)),
)
DIGITS = Spec("digits 64-128-64-10", "digits", (128, 64), epochs=40, batch_size=32, lr=0.003)
SWEEP = (
    Spec("base 4-5-2 relu", "banknote", (5,)),
    Spec("dropout 0.2", "banknote", (5,), dropout=0.2),
    Spec("tanh", "banknote", (5,), activation="tanh"),
    Spec("wider 4-20-2", "banknote", (20,)),
    Spec("deeper 4-5-5-5-2", "banknote", (5, 5, 5)),
)


@dataclass(frozen=True)
class Profile:
    name: str
    paper: tuple[Spec, ...] = PAPER
    paper_seeds: int = 5
    estimator: str = "mine"  # the paper's estimator, for every small network
    estimator_options: dict[str, Any] = field(default_factory=dict)
    digits: Spec | None = DIGITS
    digits_seeds: int = 3
    digits_estimator: str = "ksg"
    sweep: tuple[Spec, ...] = SWEEP
    sweep_seeds: int = 5
    prune_orders: int = 5  # random orders / tie-breaks per trained network
    attribution_digits: bool = True
    raw_mi_estimator: str = "ksg"
    min_accuracy: float = 0.96  # the paper's claim, checked on the mean over seeds
    min_seed_accuracy: float = 0.9  # every single seed
    #: section 6, scripts/residual_flow.py's experiment (None: not run)
    residual: dict[str, Any] | None = field(
        default_factory=lambda: dict(seeds=5, epochs=25, depths=(1, 2), width=8, draws=2000)
    )


FULL = Profile("full")
QUICK = Profile(
    "quick", paper_seeds=2, digits=dataclasses.replace(DIGITS, epochs=15), digits_seeds=1,
    digits_estimator="gcmi", sweep=tuple(dataclasses.replace(s, epochs=100) for s in SWEEP),
    sweep_seeds=1, prune_orders=3, attribution_digits=False,
    residual=dict(seeds=1, epochs=3, depths=(1,), width=8, draws=200),
)


# -- helpers -------------------------------------------------------------------------------
def fmt(v: Any, nd: int = 3) -> str:
    if v is None:
        return "—"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return "—" if not np.isfinite(f) else f"{f:.{nd}f}"


def pm(values: Any, nd: int = 3) -> str:
    a = np.asarray(list(values), dtype=np.float64)
    a = a[np.isfinite(a)]
    if a.size == 0:
        return "—"
    return f"{a.mean():.{nd}f}" if a.size == 1 else f"{a.mean():.{nd}f} ± {a.std(ddof=1):.{nd}f}"


def md_table(frame: pd.DataFrame, nd: int = 3) -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(str(c) for c in cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(fmt(v, nd) for v in row) + " |")
    return "\n".join(lines)


class Timer:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.parts: dict[str, float] = {}
        self._last = self.t0

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.parts[name] = now - self._last
        self._last = now
        print(f"[{now - self.t0:7.1f} s] {name} done ({self.parts[name]:.1f} s)", flush=True)


def train_and_analyse(store, spec: Spec, seed: int, estimator: str, options: dict[str, Any]):
    from nifgraph.data import load_dataset
    from nifgraph.pipeline import run_main_job
    from nifgraph.settings import AnalysisSettings, EstimationSettings

    ds = load_dataset(spec.dataset, seed=seed)
    name = f"{spec.label.replace(' ', '_')}-s{seed}"
    return run_main_job(store, ds, spec.config(seed), EstimationSettings(estimator, seed=seed, options=options),
                        AnalysisSettings(seed=seed), name=name)


def _all_silent(neurons: pd.DataFrame, units: list[tuple[int, int]]) -> bool | None:
    """True when every unit is dead with a constant zero output (None: no units)."""
    if not units:
        return None
    n = neurons.set_index(["layer", "idx"]).loc[list(units)]
    return bool((n["dead"] & (n["zero_frac"] == 1.0)).all())


def _units(seq: Any) -> list[tuple[int, int]]:
    return [(int(u[0]), int(u[1])) for u in seq or []]


def pruning_decision(job) -> dict[str, Any]:
    """The main job's pruning decision, from ``analysis.settings["pruning"]``."""
    p = job.analysis.settings.get("pruning") or {}
    return dict(
        flagged=_units(p.get("flagged_by_flow")), candidates=_units(p.get("candidates")),
        recommended=_units(p.get("recommended")), uninformative=_units(p.get("uninformative_units")),
        rejected=[dict(unit=tuple(r["unit"]), drop_alone=r["drop_alone"], drop_with_set=r["drop_with_set"])
                  for r in p.get("rejected") or []],
        tolerance=float(p.get("tolerance", float("nan"))),
    )


def accuracy_without(store, model, units: list[tuple[int, int]]) -> float:
    """Held-out accuracy with ``units`` removed together (mean fold, training-split means)."""
    from nifgraph.analysis.removal import replacement_values
    from nifgraph.network import accuracy, pruned
    from nifgraph.stored import load_model_network, model_dataset

    net = load_model_network(model, store)
    ds = model_dataset(model)
    if not units:
        return accuracy(net, ds.x_test, ds.y_test)
    return accuracy(pruned(net, units, means=replacement_values(net, ds.x_train, "mean")), ds.x_test, ds.y_test)


def flagged_details(store, job) -> list[dict[str, Any]]:
    """Why each neuron flagged by the flow rule carries no flow, and what the decision made of it."""
    from nifgraph.analysis.local import DEFAULT_THRESHOLD
    from nifgraph.nif import matrices_from_edges

    model, run, a = job.model, job.run, job.analysis
    d = pruning_decision(job)
    mats = matrices_from_edges(store.get_edges(run.run_id), model.layer_sizes, "value")
    neurons = store.get_neurons(model.model_id).set_index(["layer", "idx"])
    drops = a.neuron_metrics.set_index(["layer", "idx"])["accuracy_drop"] if "accuracy_drop" in a.neuron_metrics else None
    rejected = {r["unit"]: r for r in d["rejected"]}
    out = []
    for layer, idx in d["flagged"]:
        nrow = neurons.loc[(layer, idx)]
        max_in = float(mats[layer - 1][:, idx].max())
        max_out = float(mats[layer][idx, :].max())
        if bool(nrow["dead"]):
            why = "dead: constant output on every sample" + (" (ReLU never active)" if nrow["zero_frac"] == 1 else "")
        elif max_in <= DEFAULT_THRESHOLD:
            why = "no incoming edge above the threshold"
        else:
            why = "no outgoing edge above the threshold"
        u = (layer, idx)
        drop = float(drops.loc[u]) if drops is not None and u in drops.index else float("nan")
        if u in d["recommended"]:
            decision = "prunable (verified)"
        elif u in rejected:
            decision = f"kept: removal costs {rejected[u]['drop_with_set']:.3f}"
        else:
            decision = "kept: unit-level test finds information"
        out.append(dict(neuron=f"h{layer}_{idx}", dead=bool(nrow["dead"]), zero_frac=float(nrow["zero_frac"]),
                        max_in=max_in, max_out=max_out, why=why, candidate=u in d["candidates"],
                        drop_alone=drop, decision=decision))
    return out


def class_specificity(mat: np.ndarray) -> float:
    """Mean Spearman correlation over all pairs of class columns of ``mat`` (n_features,
    n_classes), constant columns skipped -- as ``scripts/bench_attribution.py`` computes it.
    Lower = more class-specific (1 = every class ranks the features alike)."""
    from scipy.stats import spearmanr

    rs = [spearmanr(mat[:, j], mat[:, k]).statistic
          for j in range(mat.shape[1]) for k in range(j + 1, mat.shape[1])
          if np.ptp(mat[:, j]) > 0 and np.ptp(mat[:, k]) > 0]
    return float(np.mean(rs)) if rs else float("nan")


# -- experiments ---------------------------------------------------------------------------
def run_all(profile: Profile, results: Path, figures: Path, store_dir: Path | None = None) -> dict[str, Any]:
    """Run every experiment of ``profile``; write ``results`` (markdown) and figures; return
    the raw results (used by :func:`check`)."""
    import torch

    from nifgraph.analysis.attribution import attribution_comparison
    from nifgraph.analysis.pruning import DEFAULT_PRUNE_METHOD, prune_curve_for_model
    from nifgraph.analysis.summaries import compare_models
    from nifgraph.nif import flow_concentration, matrices_from_edges
    from nifgraph.render import figures as plot
    from nifgraph.render.charts import plot_prune_curves
    from nifgraph.store import open_store
    from nifgraph.stored import load_model_network, model_dataset

    torch.set_num_threads(1)  # tiny networks: one thread is fastest and immune to oversubscription
    # hashed before anything runs: the file records the sources its numbers came from
    sources = dict(hash=source_hash(), files=len(source_files()), python=platform.python_version())
    timer = Timer()
    tmp = Path(store_dir or tempfile.mkdtemp(prefix="nifgraph-repro-"))
    store = open_store(str(tmp / "repro.duckdb"))
    figures.mkdir(parents=True, exist_ok=True)
    R: dict[str, Any] = {"profile": profile.name, "store": str(tmp / "repro.duckdb"), "sources": sources}

    def job_row(spec: Spec, seed: int, job) -> dict[str, Any]:
        m, a = job.model, job.analysis
        mats = matrices_from_edges(store.get_edges(job.run.run_id), m.layer_sizes, "value")
        neurons = store.get_neurons(m.model_id)
        hidden = neurons[neurons["role"] == "hidden"]
        d = pruning_decision(job)
        silent = [(int(r.layer), int(r.idx)) for r in hidden.itertuples() if bool(r.dead) and r.zero_frac == 1.0]
        prunable = list(a.prunable)
        return dict(
            spec=spec.label, seed=seed, model_id=m.model_id, test_accuracy=m.test_accuracy,
            train_accuracy=m.train_accuracy, n_hidden=len(hidden), n_dead=int(hidden["dead"].sum()),
            flow_flagged=len(d["flagged"]), candidates=len(d["candidates"]), prunable=len(prunable),
            rejected=len(d["rejected"]), fraction_prunable=len(prunable) / max(1, len(hidden)),
            accuracy_before=a.accuracy_before, accuracy_after=a.accuracy_after,
            # the paper's rule: every flow-flagged neuron removed at once (same mean fold)
            accuracy_all_flagged=accuracy_without(store, m, d["flagged"]) if d["flagged"] else a.accuracy_before,
            tolerance=d["tolerance"], all_prunable_dead=_all_silent(neurons, prunable),
            silent_all_prunable=set(silent) <= set(prunable), n_silent=len(silent),
            nested=set(prunable) <= set(d["candidates"]) <= set(d["flagged"]),
            n_communities=a.n_communities, modularity=a.modularity, flow_concentration=flow_concentration(mats),
            estimator=job.run.estimator, nif_seconds=job.run.elapsed_s,
        )

    # 1. the paper's networks ------------------------------------------------------------------
    paper_rows, flagged_rows, paper_jobs = [], [], {}
    for spec in profile.paper:
        for seed in range(profile.paper_seeds):
            job = train_and_analyse(store, spec, seed, profile.estimator, profile.estimator_options)
            paper_jobs[(spec.label, seed)] = job
            paper_rows.append(job_row(spec, seed, job))
            for d in flagged_details(store, job):
                flagged_rows.append(dict(spec=spec.label, seed=seed, **d))
        # figure of seed 0
        job = paper_jobs[(spec.label, 0)]
        m, r, a = job.model, job.run, job.analysis
        neurons = store.get_neurons(m.model_id)
        names = [neurons[neurons["layer"] == la].sort_values("idx")["name"].astype(str).tolist() for la in range(m.n_layers)]
        acts = load_model_network(m, store).forward_layers(model_dataset(m).split(r.split)[0])
        stem = figures / f"nif_{spec.dataset}_{m.architecture}_s0"
        plot.plot_flow(m.layer_sizes, store.get_edges(r.run_id), a.neuron_metrics, names=names, activations=acts,
                       title=f"{spec.label} · NIF ({r.estimator}) · seed 0 · acc {m.test_accuracy:.3f}",
                       path_stem=stem, formats=("png",))
    R["paper"] = pd.DataFrame(paper_rows)
    R["flagged"] = pd.DataFrame(flagged_rows, columns=["spec", "seed", "neuron", "dead", "zero_frac", "max_in", "max_out", "why",
                                                       "candidate", "drop_alone", "decision"])
    timer.lap("paper networks")

    # 2. pruning curves --------------------------------------------------------------------------
    curve_specs: list[tuple[Spec, list[Any]]] = [(s, [paper_jobs[(s.label, k)] for k in range(profile.paper_seeds)]) for s in profile.paper]
    digits_rows = []
    if profile.digits is not None:
        djobs = []
        for seed in range(profile.digits_seeds):
            job = train_and_analyse(store, profile.digits, seed, profile.digits_estimator, {})
            djobs.append(job)
            digits_rows.append(job_row(profile.digits, seed, job))
        curve_specs.append((profile.digits, djobs))
    R["digits"] = pd.DataFrame(digits_rows)
    curves: dict[str, dict[str, Any]] = {}
    for spec, jobs in curve_specs:
        per_seed = [prune_curve_for_model(store, j.model.model_id, seeds=profile.prune_orders) for j in jobs]
        ks = per_seed[0].ks
        methods = list(per_seed[0].accuracy)
        methods = sorted(methods, key=lambda mth: (mth != DEFAULT_PRUNE_METHOD, methods.index(mth)))  # default first
        mean_curves = {mth: np.stack([pc.mean(mth) for pc in per_seed]) for mth in methods}  # (train seeds, ks)
        aucs = {mth: np.array([pc.auc(mth) for pc in per_seed]) for mth in methods}
        summary = pd.DataFrame([
            dict(method=mth + (" (default)" if mth == DEFAULT_PRUNE_METHOD else ""), auc=pm(aucs[mth]),
                 d_auc_vs_default=pm(aucs[mth] - aucs[DEFAULT_PRUNE_METHOD]) if mth != DEFAULT_PRUNE_METHOD else "—",
                 removable_1pt=pm([pc.removable(mth) for pc in per_seed], 1),
                 auc_values=", ".join(fmt(v) for v in aucs[mth]))
            for mth in methods
        ])
        legend = {mth + (" (default)" if mth == DEFAULT_PRUNE_METHOD else ""): v for mth, v in mean_curves.items()}
        agg = dataclasses.replace(per_seed[0], accuracy=legend, seeds=len(per_seed))
        fig = plot_prune_curves(agg, figures / f"prune_{spec.dataset}_{'-'.join(map(str, jobs[0].model.layer_sizes))}.png",
                                title=f"{spec.label}: mean over {len(per_seed)} trained seeds × {profile.prune_orders} orders")
        auc_means = {mth: float(aucs[mth].mean()) for mth in methods}
        curves[spec.label] = dict(ks=ks, mean=mean_curves, summary=summary, figure=fig, n_hidden=per_seed[0].n_hidden, auc=auc_means,
                                  aucs=aucs, per_seed=per_seed,
                                  to_dict_default=[r["method"] for r in per_seed[0].to_dict()["summary"] if r["default"]])
    R["curves"] = curves
    timer.lap("pruning curves")

    # 3. attribution ----------------------------------------------------------------------------
    attr_rows, attr_mats = [], {}
    attr_jobs = [(s.label, k, paper_jobs[(s.label, k)]) for s in profile.paper for k in range(profile.paper_seeds)]
    if profile.attribution_digits and profile.digits is not None:
        attr_jobs.append((profile.digits.label, 0, djobs[0]))
    for label, seed, job in attr_jobs:
        ac = attribution_comparison(store, job.model.model_id, mi_estimator=profile.raw_mi_estimator, seed=seed)
        attr_mats[(label, seed)] = ac
        for row in ac.table().to_dict(orient="records"):
            mat = ac.matrices.get(row["method"])
            attr_rows.append(dict(
                spec=label, seed=seed, **row, n_classes=len(ac.class_names),
                class_specificity=class_specificity(np.asarray(mat)) if mat is not None else float("nan"),
                max_value=float(np.max(mat)) if mat is not None else float("nan"),
                min_value=float(np.min(mat)) if mat is not None else float("nan"),
            ))
    R["attribution"] = pd.DataFrame(attr_rows)
    R["attribution_examples"] = attr_mats
    # figure: normalised attribution of every method, seed 0 of each paper network
    _attribution_figure(attr_mats, [(s.label, 0) for s in profile.paper], figures / "attribution_methods.png")
    timer.lap("attribution comparison")

    # 4. architecture sweep ----------------------------------------------------------------------
    sweep_rows, sweep_seed0 = [], []
    for spec in profile.sweep:
        for seed in range(profile.sweep_seeds):
            if dataclasses.replace(spec, label=PAPER[1].label) == PAPER[1] and (PAPER[1].label, seed) in paper_jobs:
                job = paper_jobs[(PAPER[1].label, seed)]  # same network as the paper's Banknote 4-5-2
            else:
                job = train_and_analyse(store, spec, seed, profile.estimator, profile.estimator_options)
            sweep_rows.append(job_row(spec, seed, job))
            if seed == 0:
                sweep_seed0.append(job.model.model_id)
    R["sweep"] = pd.DataFrame(sweep_rows)
    timer.lap("architecture sweep")

    # 5. nifgraph compare --------------------------------------------------------------------------
    ids = [paper_jobs[(s.label, 0)].model.model_id for s in profile.paper] + sweep_seed0
    cmp = compare_models(store, list(dict.fromkeys(ids)))
    R["compare"] = cmp
    from nifgraph.render.charts import plot_attributions

    plot_attributions(cmp.summaries, figures / "compare_attributions.png")
    timer.lap("compare")

    # 6. residual blocks -------------------------------------------------------------------------
    if profile.residual:
        R["residual"] = residual_experiment(profile.residual)
        timer.lap("residual blocks")
    store.close()
    R["timings"] = dict(timer.parts, total=time.perf_counter() - timer.t0)
    if source_hash() != sources["hash"]:
        sources["changed_during_run"] = True
        print("WARNING: the sources changed during the run; the results file records the hash taken at the start, "
              "so tests/test_results_fresh.py will ask for a new run.", flush=True)
    R["figures"] = figures
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(render(R, profile, figures, results))
    with open(tmp / "results.pkl", "wb") as fh:  # raw results, to re-render without re-running
        pickle.dump({k: v for k, v in R.items() if k != "figures"}, fh)
    return R


def residual_script():
    """scripts/residual_flow.py as a module (the scripts are not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("residual_flow", ROOT / "scripts" / "residual_flow.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def residual_experiment(settings: dict[str, Any]) -> dict[str, Any]:
    """Section 6: residual_flow.py's experiment; its rows and the settings."""
    rows = residual_script().experiment(settings["seeds"], settings["epochs"], tuple(settings["depths"]),
                                        settings["width"], settings["draws"], log=None)
    return dict(settings, rows=rows)


def residual_section(res: dict[str, Any]) -> str:
    """Section 6 of docs/results.md, from :func:`residual_experiment`'s result."""
    rf = residual_script()
    return (
        "## 6. The paper's residual question: flow through a block with and without its skip\n\n"
        "The paper's future work asks how information flow is \"amplified or thwarted when we introduce shortcuts, "
        "residuals, dropout\". Small CNNs on digits as 1×8×8 images: a stem conv, then `depth` blocks of two 3×3 convs "
        "with or without the identity skip, dropout 0 or 0.2 before each block's second conv, global average pooling, a "
        "linear classifier; read as a DAG of channels, NIF on every edge with GCMI on the held-out split, each layer "
        "pair tested against a pooled permutation null (an edge is significant above the null's 95th percentile). "
        f"{res['seeds']} training seeds, {res['epochs']} epochs, width {res['width']}, {res['draws']} null draws per "
        "layer pair; mean ± 95 % t-interval over seeds. Columns: accuracy (held-out); into / out of block = mean NIF "
        "of the edges entering the first block and of those entering the classifier (skip edges included); skip "
        "share = the classifier's incoming NIF that arrives over skip edges; significant = edges above the null; "
        "prunable = hidden channels the flow rule flags. The same experiment, with its method, is "
        "[residual_flow.md](residual_flow.md) (`scripts/residual_flow.py`).\n\n"
        + rf.table(res["rows"]) + "\n" + rf.reading(res["rows"], res["width"])
    )


def _attribution_figure(attr: dict, keys: list[tuple[str, int]], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    keys = [k for k in keys if k in attr]
    if not keys:
        return
    methods = list(attr[keys[0]].matrices)
    fig = Figure(figsize=(2.4 * len(methods) + 0.6, 2.4 * len(keys) + 0.4), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(keys), len(methods), squeeze=False)
    for r, key in enumerate(keys):
        ac = attr[key]
        norm = ac.normalized
        for c, mth in enumerate(methods):
            ax = axes[r, c]
            im = ax.imshow(norm[mth], vmin=0, vmax=1, cmap="viridis", aspect="auto")
            ax.set_title(f"{key[0]} · {mth}", fontsize=7)
            ax.set_xticks(range(len(ac.class_names)))
            ax.set_xticklabels([str(x)[:10] for x in ac.class_names], fontsize=5, rotation=30)
            ax.set_yticks(range(len(ac.feature_names)))
            ax.set_yticklabels([str(x)[:14] for x in ac.feature_names] if c == 0 else [], fontsize=5)
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.6, label="attribution (class sums to 1)")
    fig.savefig(path, dpi=130)


# -- checks (quick mode asserts these) ------------------------------------------------------------
def check(R: dict[str, Any], profile: Profile) -> list[str]:
    """What can be checked automatically; returns the list of checks passed (raises on failure)."""
    passed = []
    paper = R["paper"]
    for spec, grp in paper.groupby("spec"):
        acc = grp["test_accuracy"].to_numpy()
        assert acc.mean() >= profile.min_accuracy, f"{spec}: mean held-out accuracy {acc.mean():.3f} < {profile.min_accuracy}"
        assert acc.min() >= profile.min_seed_accuracy, f"{spec}: a seed reached only {acc.min():.3f}"
        passed.append(f"{spec}: mean accuracy {acc.mean():.3f} ≥ {profile.min_accuracy}, every seed ≥ {profile.min_seed_accuracy}")
    frames = [R["paper"], R["sweep"]] + ([R["digits"]] if len(R["digits"]) else [])
    allrows = pd.concat(frames, ignore_index=True).drop_duplicates(subset=["model_id"])
    for r in allrows.itertuples():
        assert r.nested, f"{r.model_id}: verified prunable ⊆ candidates ⊆ flow-flagged does not hold"
        assert r.accuracy_before - r.accuracy_after <= r.tolerance + 1e-9, (
            f"{r.model_id}: the verified removal costs {r.accuracy_before - r.accuracy_after:.4f} > tolerance {r.tolerance}")
        assert r.silent_all_prunable, f"{r.model_id}: a dead ReLU (constant 0) is not in the verified prunable set"
        assert 0 <= r.fraction_prunable <= 1 and 0 <= r.flow_concentration <= 1
    dead_only = allrows[allrows["all_prunable_dead"] == True]  # noqa: E712 - object column with None
    for r in dead_only.itertuples():
        assert r.accuracy_after == r.accuracy_before, f"{r.model_id}: removing dead neurons changed accuracy"
    passed.append(
        f"pruning decision on {len(allrows)} network(s): prunable ⊆ candidates ⊆ flow-flagged, every verified removal within "
        f"its tolerance, every dead ReLU verified prunable, {len(dead_only)} all-dead removal(s) exact")
    from nifgraph.analysis.pruning import DEFAULT_PRUNE_METHOD, PRUNE_METHODS

    for label, c in R["curves"].items():
        assert list(c["mean"])[0] == DEFAULT_PRUNE_METHOD and set(c["mean"]) == set(PRUNE_METHODS), f"{label}: methods {list(c['mean'])}"
        assert c["to_dict_default"] == [DEFAULT_PRUNE_METHOD], f"{label}: PruneCurves.to_dict marks {c['to_dict_default']}"
        assert c["summary"]["method"].tolist()[0] == f"{DEFAULT_PRUNE_METHOD} (default)"
        for pc in c["per_seed"]:
            first = {m: a[:, 0] for m, a in pc.accuracy.items()}
            last = {m: a[:, -1] for m, a in pc.accuracy.items()}
            # every order starts from the same network and, with all neurons gone, ends at the same one
            assert all(np.allclose(v, first[DEFAULT_PRUNE_METHOD]) for v in first.values()), f"{label}: curves differ at k = 0"
            if int(pc.ks[-1]) == pc.n_hidden:
                assert all(np.allclose(v, last[DEFAULT_PRUNE_METHOD]) for v in last.values()), f"{label}: curves differ at k = all"
        assert all(0 <= v <= 1 for v in c["auc"].values())
    passed.append(f"pruning curves: all {len(PRUNE_METHODS)} orders on {len(R['curves'])} network(s), {DEFAULT_PRUNE_METHOD} "
                  "marked default, every order starts and ends at the same accuracy")
    from nifgraph.analysis.attribution import METHODS

    attr = R["attribution"]
    assert set(attr["method"]) == {*METHODS, "random order"}, sorted(set(attr["method"]))
    real = attr[attr["method"] != "random order"]
    assert real["ks_statistic"].between(0, 1).all() and real["ks_p"].between(0, 1).all()
    assert real["spearman_rho"].dropna().between(-1, 1).all()
    assert real["class_specificity"].dropna().between(-1 - 1e-9, 1 + 1e-9).all()
    assert attr["deletion_auc"].between(0, 1).all() and attr["deletion_auc_class"].between(0, 1).all()
    ref = real[real["method"] == "raw_mi"]
    assert (ref["ks_statistic"] == 0).all() and np.allclose(ref["spearman_rho"], 1.0)
    cf = real[real["method"] == "class_flow"]
    assert (cf["min_value"] >= -1e-12).all() and (cf["max_value"] <= np.log(2) + 1e-9).all(), (
        f"class_flow outside [0, ln 2]: {cf['min_value'].min()} .. {cf['max_value'].max()}")
    passed.append("attribution: every method incl. class_flow; statistics in range; raw MI against itself gives K-S 0 "
                  f"and ρ 1; class_flow within [0, ln 2] nats (max {cf['max_value'].max():.3f})")
    cmp = R["compare"]
    table = cmp.table()
    n = len(cmp.summaries)
    assert len(table) == n and {"test_accuracy", "fraction_prunable", "n_communities", "modularity", "flow_concentration"} <= set(table.columns)
    assert table["test_accuracy"].between(0, 1).all() and table["fraction_prunable"].between(0, 1).all()
    assert table["flow_concentration"].between(0, 1).all() and (table["n_communities"] >= 1).all()
    same = table.groupby("dataset").size()
    expected_pairs = int(sum(k * (k - 1) // 2 for k in same))
    assert len(cmp.agreement) == expected_pairs
    assert cmp.agreement[["spearman", "kendall"]].dropna().abs().le(1).all().all()
    passed.append(f"compare table: {n} models × {table.shape[1]} columns, {expected_pairs} same-data-set pairs, values in range")
    return passed


# -- the report ------------------------------------------------------------------------------------
def render(R: dict[str, Any], profile: Profile, figures: Path, results: Path) -> str:  # noqa: C901
    import torch

    from nifgraph.analysis.attribution import METHODS
    from nifgraph.analysis.pruning import DEFAULT_PRUNE_METHOD

    def rel(p: Path) -> str:
        try:
            return os.path.relpath(p, results.parent)
        except ValueError:
            return str(p)

    nan = float("nan")
    paper: pd.DataFrame = R["paper"]
    L: list[str] = []
    w = L.append
    w("# Reproducing NIF (Davis et al., AAAI 2019 workshop) — results\n")
    w(f"Generated by `scripts/reproduce_paper.py` (profile **{profile.name}**) from a clean temporary store; "
      "every number below is computed by that script. "
      f"Python {platform.python_version()}, torch {torch.__version__}, {os.cpu_count()} CPU cores, one torch thread. "
      f"Total wall time {R['timings']['total']:.0f} s "
      f"({', '.join(f'{k} {v:.0f} s' for k, v in R['timings'].items() if k != 'total')}).\n")
    src = R["sources"]
    w(f"{HASH_LINE}: `{src['hash']}`\n")
    w(f"(SHA-256 of `scripts/reproduce_paper.py` and {src['files'] - 1} modules `nifgraph/**/*.py` without `cli/` and "
      f"`render/`, each as its `ast.dump` with docstrings removed, Python {src['python']}; taken before the run"
      + ("; **the sources changed during the run**" if src.get("changed_during_run") else "")
      + f". `tests/test_results_fresh.py` fails when they change; regenerate with `{REGENERATE}`.)\n")
    w("Settings: ReLU MLPs trained with Adam (lr 0.01, batch 16, 200 epochs unless stated), cross-entropy; a "
      "stratified 70/30 split whose seed equals the training seed; inputs standardised with training statistics. "
      f"NIF estimated with the **{profile.estimator}** estimator "
      f"(options {profile.estimator_options or 'default'}), pairwise variant, β = 0; prunable threshold 0.02 nats; "
      "Louvain γ = 1. Held-out accuracy is on the 30 % test split.\n")
    tol = float(paper["tolerance"].iloc[0]) if len(paper) else nan

    # 1
    w("## 1. The paper's networks: accuracy, flow figures, the pruning decision\n")
    w("The paper reports ≥ 96 % held-out accuracy for these networks. Every seed is listed — none is left out. "
      "Pruning columns (nifgraph's decision, section 2): **flow_flagged** = neurons the flow rule flags (no edge in or "
      "no edge out above the threshold); **candidates** = those the unit-level test also finds without information; "
      f"**prunable** = candidates verified by removal on held-out data within the tolerance ({fmt(tol)}); "
      "**accuracy_before/after** = held-out accuracy before and after removing the verified set.\n")
    cols = ["spec", "seed", "test_accuracy", "train_accuracy", "n_dead", "flow_flagged", "candidates", "prunable",
            "accuracy_before", "accuracy_after", "n_communities", "modularity", "flow_concentration", "nif_seconds"]
    w(md_table(paper[cols]))
    w("")
    agg = paper.groupby("spec", sort=False)["test_accuracy"].agg(["mean", "min", "max", "count"]).reset_index()
    below = paper[paper["test_accuracy"] < profile.min_accuracy]
    w("Per network: " + "; ".join(
        f"{r.spec}: mean {r.mean:.3f} (min {r.min:.3f}, max {r.max:.3f}, {int(r.count)} seeds)" for r in agg.itertuples()) + ".")
    if len(below):
        w(" Seeds under the paper's 96 %: " + ", ".join(f"{r.spec} seed {r.seed} ({r.test_accuracy:.3f})" for r in below.itertuples())
          + ". They are reported, not replaced.\n")
    else:
        w(" Every seed reaches the paper's 96 %.\n")
    w("NIF network figures (seed 0; node size = betweenness, colour = Louvain community, edge width = NIF; right: "
      "hidden activations):\n")
    for spec in profile.paper:
        for p in sorted(figures.glob(f"nif_{spec.dataset}_*-*_s0.png")):
            if p.name.count("-") + 1 == len(spec.hidden) + 2:
                w(f"![{spec.label}]({rel(p)})")
    w("")
    flagged: pd.DataFrame = R["flagged"]
    w("### Neurons that carry no flow, why, and what the decision made of them\n")
    if len(flagged):
        w(md_table(flagged))
        n_dead = int(flagged["dead"].sum())
        w(f"\n{len(flagged)} flow-flagged neuron(s) over all seeds, {n_dead} of them dead (constant output on every "
          "sample, so every MI through them is exactly 0). A live neuron is flagged only when all its incoming or all "
          "its outgoing edges fall under the 0.02-nat threshold. drop_alone = held-out accuracy lost by removing the "
          "candidate alone (— = not a candidate, not removed).\n")
    else:
        w("No neuron was flagged in any seed: every hidden neuron carries flow in and out.\n")

    # 2
    w("## 2. Pruning\n")
    w("### The pruning decision against the paper's experiment\n")
    w("The paper removes every neuron without flow and reports no accuracy drop. nifgraph's main job decides in two "
      "steps: the flow rule's flags intersected with a unit-level test (is there *any* information between the unit "
      "and its whole input layer, and its whole output layer? — 'no significant edge' alone is not 'no information' "
      "on wide layers) give the **candidates**; each candidate is then removed with the **mean fold** (weights zeroed, "
      "its training-split mean times its outgoing weights added to the next bias, so a constant neuron is removed "
      "exactly) and kept in the **prunable** set only while the set's held-out accuracy drop stays within the "
      f"tolerance {fmt(tol)} (half a point: under one held-out sample on Iris's 45, about two on Banknote's 412). "
      "Columns: *all flagged* = held-out "
      "accuracy after removing every flow-flagged neuron at once (the paper's rule, same mean fold); *after* = after "
      "removing the verified set.\n")
    rows = []
    for frame in (paper, R["digits"], R["sweep"]):
        for r in frame.itertuples() if len(frame) else []:
            rows.append(dict(model_id=r.model_id, network=r.spec, seed=r.seed, dead=r.n_dead, flow_flagged=r.flow_flagged,
                             candidates=r.candidates, prunable=r.prunable, rejected=r.rejected,
                             all_prunable_dead=r.all_prunable_dead, before=r.accuracy_before,
                             all_flagged=r.accuracy_all_flagged, after=r.accuracy_after,
                             drop=r.accuracy_before - r.accuracy_after))
    pr = pd.DataFrame(rows).drop_duplicates(subset=["model_id"]).drop(columns=["model_id"])
    w(md_table(pr))
    with_flag = pr[pr["flow_flagged"] > 0]
    dead_only = pr[pr["all_prunable_dead"] == True]  # noqa: E712
    live = pr[pr["all_prunable_dead"] == False]  # noqa: E712
    paper_drop = (pr["before"] - pr["all_flagged"])
    not_cand = int((pr["flow_flagged"] - pr["candidates"]).sum())
    w(f"\n{len(pr)} trained network(s): {len(with_flag)} had flow-flagged neurons ({int(pr['flow_flagged'].sum())} in all), "
      f"{int(pr['candidates'].sum())} of them candidates ({not_cand} dropped by the unit-level test), "
      f"{int(pr['prunable'].sum())} verified prunable, {int(pr['rejected'].sum())} rejected by the removal check. "
      f"In the {len(dead_only)} network(s) whose verified set is all dead ReLUs the accuracy is unchanged in "
      f"{int((dead_only['drop'] == 0).sum())} (it must be: a dead ReLU outputs 0 on every input)."
      + (f" In the {len(live)} with live prunable neurons the largest drop was {live['drop'].max():.3f}." if len(live) else "")
      + f" Largest drop of any verified removal: {pr['drop'].max():.3f} (tolerance {fmt(tol)}); largest drop of the "
      f"paper's rule (every flagged neuron removed): {paper_drop.max():.3f}.\n")
    w("### Pruning curves: every order, greedy_kl the default\n")
    w("Beyond the paper: hidden neurons removed one by one, least important first, held-out accuracy re-measured; "
      "every removal uses the mean fold. Orders: "
      f"**greedy_kl** (**the default**: `DEFAULT_PRUNE_METHOD`, marked `\"default\": true` in `nifgraph prune-curve --json`) = greedy, re-scored "
      "after each removal, by KL(p_full ‖ p_pruned) of the output softmax on the training inputs (label-free); "
      "**std_wout** = output standard deviation × L2 norm of the outgoing weights; **mi_output** = I(h; ŷ), MI of the "
      "neuron with the predicted class; **nif** = total NIF in-flow × out-flow (the paper's quantity; a neuron that "
      "receives or passes no information scores 0); **betweenness** = weighted betweenness on the flow graph; "
      "**magnitude** = L2 norm of the neuron's incoming and outgoing weights; **random**. Static scores are divided "
      "by their layer's mean so that layers compete on equal terms (greedy_kl is a global order); ties are broken at "
      f"random. Each trained network is pruned with {profile.prune_orders} seeds (random orders, tie-breaks); curves "
      "are the mean over those and then over the trained seeds. AUC = area under accuracy against the fraction "
      "removed (trapezoid rule, x in [0, 1]; higher = harmless neurons go first); d_auc_vs_default = AUC − greedy_kl's AUC, paired by trained "
      "seed (mean ± sd; negative = worse than the default); removable_1pt = neurons removed before accuracy falls "
      "more than 1 point (mean over trained seeds).\n")
    if profile.digits is not None and len(R["digits"]):
        d = R["digits"]
        w(f"Digits 64-128-64-10 ({profile.digits.epochs} epochs, batch {profile.digits.batch_size}, lr {profile.digits.lr}); "
          f"NIF estimated with **{profile.digits_estimator}** (MINE on its 17 024 edges is too slow for this budget): "
          f"held-out accuracy {', '.join(fmt(v) for v in d['test_accuracy'])} (seeds {', '.join(map(str, d['seed']))}).\n")
    for label, c in R["curves"].items():
        w(f"**{label}** ({c['n_hidden']} hidden neurons)\n")
        w(md_table(c["summary"].rename(columns={"auc_values": "AUC per trained seed"})))
        w("")
        ks = c["ks"]
        tab = pd.DataFrame({"k removed": ks, **{m + ("*" if m == DEFAULT_PRUNE_METHOD else ""): v.mean(axis=0)
                                                for m, v in c["mean"].items()}})
        w(md_table(tab))
        w(f"\n(* = default order.)\n\n![{label}]({rel(c['figure'])})\n")
    auc_tab = pd.DataFrame([
        {"network": label, **{m + (" (default)" if m == DEFAULT_PRUNE_METHOD else ""): c["auc"][m] for m in c["auc"]}}
        for label, c in R["curves"].items()
    ])
    w("Pruning-curve AUC of every order (mean over trained seeds; higher = better; the default first):\n")
    w(md_table(auc_tab))
    best = {label: max(c["auc"], key=c["auc"].get) for label, c in R["curves"].items()}
    w("\nBest order by pruning-curve AUC: " + "; ".join(f"{k}: **{v}**" for k, v in best.items()) + ".\n")

    # 3
    attr: pd.DataFrame = R["attribution"]
    w("## 3. Attribution: class_flow and NIF against SHAP, Integrated Gradients and raw MI\n")
    w("Per class j the attribution vector over input features is: **class_flow** = the class-specific, bounded flow "
      "of `nifgraph.analysis.class_flow` (method `flow_dpi`, GCMI): the network's own decision c_j = 1[ŷ = j] sends "
      "one unit of share backwards through per-class edge informations min(I(h_a; h_b), I(h_a; c_j), I(h_b; c_j)), "
      "and feature i's share is weighted by I(x_i; c_j) — nats, bounded by I(x_i; 1[ŷ=j]) ≤ H(c_j) ≤ ln 2; "
      "**nif** = column j of A = Π_l NIF_l (the paper's path product); SHAP = mean |SHAP| over test samples for "
      "logit j (`shap.DeepExplainer`, background = up to 200 training samples); IG = mean |Integrated Gradients| over "
      "test samples for logit j (captum, baseline = zeros = the training mean after standardisation, 50 steps); raw "
      f"MI = I(x_i; 1[y = j]) on the run's samples ({profile.raw_mi_estimator}, k = 3). **Every class column is "
      "normalised to sum to 1 before the statistics**; K-S and Spearman are computed on the pooled features × classes "
      "entries against raw MI.\n")
    w("**Reading the K-S test.** `scipy.stats.ks_2samp` tests whether two samples come from the same distribution: "
      "a *small* statistic with a *large* p-value means the attribution values look alike; a statistic of 1 means the "
      "two sets of values do not overlap at all. The paper's Table 1 reads it backwards: there NIF's K-S statistic of "
      "1.0 (p = 0.011) means NIF's attributions differ most from raw MI, and IG's 0.25 (p = 0.996) means IG looks "
      "alike. K-S also ignores *which* feature carries which value (it compares sorted values only), so it cannot "
      "tell whether two methods rank the features the same way: Spearman does, and the deletion test measures "
      "whether the top-ranked features actually matter to the network.\n")
    w("Deletion test: features replaced by 0 (the training mean) in each method's order, most important first, "
      "held-out accuracy re-measured; AUC of accuracy vs fraction deleted, **lower = better**. *deletion_auc*: one "
      "global order (sum of the normalised class columns), all test samples; *deletion_auc_class* (per-class "
      "deletion AUC): for each class j, column j's order and the recall of class j, averaged over classes — the test "
      "a class-specific attribution is for. The random row is the expected AUC of a random order (exact over all "
      "orders for ≤ 6 features). **Class specificity** = mean Spearman correlation between the class columns of one "
      "method (all pairs of classes; as in `scripts/bench_attribution.py`): 1 = the method ranks the features the same "
      "way for every class, i.e. says nothing class-specific; **lower = more class-specific**. It is reported for "
      "networks with ≥ 3 classes only: with two classes 1[ŷ=0] and 1[ŷ=1] carry the same information, so "
      "class_flow's and raw MI's two columns agree by construction.\n")
    multi = attr["n_classes"] >= 3
    attr = attr.assign(class_specificity=attr["class_specificity"].where(multi))
    order = [*METHODS, "random order"]
    summ = []
    for (spec, method), g in sorted(attr.groupby(["spec", "method"], sort=False),
                                    key=lambda kv: (list(attr["spec"].unique()).index(kv[0][0]), order.index(kv[0][1]) if kv[0][1] in order else 99)):
        label = {"class_flow": "class_flow (default)", "nif": "nif (paper)"}.get(method, method)
        summ.append(dict(network=spec, method=label, seeds=len(g), class_specificity=pm(g["class_specificity"]),
                         deletion_auc_class=pm(g["deletion_auc_class"]), deletion_auc=pm(g["deletion_auc"]),
                         spearman_vs_raw_mi=pm(g["spearman_rho"]), ks_statistic=pm(g["ks_statistic"]), ks_p=pm(g["ks_p"]),
                         max_value=pm(g["max_value"])))
    w("Mean ± sd over seeds (max_value = the largest raw entry: nats for class_flow and raw MI, nats^depth for nif, "
      "logit units for SHAP and IG):\n")
    w(md_table(pd.DataFrame(summ)))
    w("")
    non_ref = attr[~attr["method"].isin(["raw_mi", "random order"])]
    ks_mean = non_ref.groupby("method")["ks_statistic"].mean()
    sp_mean = non_ref.groupby("method")["spearman_rho"].mean()
    auc_mean = attr.groupby("method")["deletion_auc"].mean()
    aucc_mean = attr.groupby("method")["deletion_auc_class"].mean()
    cs = attr.groupby("method")["class_specificity"].mean().dropna()
    R["class_specificity"] = attr.loc[multi, ["spec", "seed", "method", "class_specificity"]]
    per_method = pd.DataFrame([
        dict(method={"class_flow": "class_flow (default)", "nif": "nif (paper)"}.get(m, m),
             class_specificity=cs.get(m, nan), deletion_auc_class=aucc_mean.get(m, nan), deletion_auc=auc_mean.get(m, nan))
        for m in order if m in auc_mean.index
    ])
    w("Over all networks and seeds (class specificity: networks with ≥ 3 classes):\n")
    w(md_table(per_method))
    w("")
    no_rand = auc_mean.drop("random order", errors="ignore")
    no_rand_c = aucc_mean.drop("random order", errors="ignore")
    w(f"The method closest to raw MI by K-S (smallest mean statistic) is **{ks_mean.idxmin()}** ({ks_mean.min():.3f}; "
      f"NIF {ks_mean.get('nif', nan):.3f}); by Spearman (largest mean ρ) **{sp_mean.idxmax()}** ({sp_mean.max():.3f}; "
      f"NIF {sp_mean.get('nif', nan):.3f}). Lowest mean deletion AUC: **{no_rand.idxmin()}** ({no_rand.min():.3f}; random "
      f"order {auc_mean.get('random order', nan):.3f}); lowest mean per-class deletion AUC: **{no_rand_c.idxmin()}** "
      f"({no_rand_c.min():.3f}; random order {aucc_mean.get('random order', nan):.3f}).\n")
    cf_max = attr.loc[attr["method"] == "class_flow", "max_value"].max()
    w("**Why class_flow is the default of `nifgraph attribution`, and why the path product stays.** A class "
      "attribution should answer 'which features does the network use for class j', in units that can be compared "
      "across models. class_flow is *class-specific* — each class has its own edge informations and its own routing, "
      f"so its class columns rank features differently where the network does (class specificity "
      f"{cs.get('class_flow', nan):.3f} here against {cs.get('nif', nan):.3f} for the path product, {cs.get('shap', nan):.3f} "
      f"for SHAP); it is *bounded* — every entry is in nats and at most I(x_i; 1[ŷ=j]) ≤ H(1[ŷ=j]) ≤ ln 2 = 0.693 "
      f"(largest entry here {cf_max:.3f}), where the path product multiplies nats along a path and has no bound "
      f"(largest entry here {attr.loc[attr['method'] == 'nif', 'max_value'].max():.3f} nats^depth); and it is "
      + ("*as faithful as SHAP*" if aucc_mean.get("class_flow", nan) <= aucc_mean.get("shap", nan) + 0.01 else "*less faithful than SHAP here*")
      + f" on the per-class deletion test (mean per-class deletion AUC {aucc_mean.get('class_flow', nan):.3f} "
      f"against SHAP {aucc_mean.get('shap', nan):.3f}, IG {aucc_mean.get('ig', nan):.3f}, path product "
      f"{aucc_mean.get('nif', nan):.3f}) at the cost of one GCMI estimate per layer instead of a DeepExplainer run. "
      "The path product is class-blind: every class column is the same upstream product times one last-layer column, "
      "so the columns rank features almost identically. It is kept, stored with every analysis and available as "
      "`nifgraph attribution --method path`, for reproducing the paper (this section's `nif` rows).\n")
    w(f"![attribution methods]({rel(figures / 'attribution_methods.png')})\n")
    w("All seeds:\n")
    stat_cols = ["class_specificity", "deletion_auc_class", "deletion_auc", "spearman_rho", "spearman_per_class",
                 "ks_statistic", "ks_p", "max_value"]
    w(md_table(attr[["spec", "seed", "method", *stat_cols]]))
    w("")

    # 4
    sweep: pd.DataFrame = R["sweep"]
    w("## 4. Information flow and architecture (Banknote)\n")
    w(f"Variants of the Banknote 4-5-2 ReLU network, {profile.sweep_seeds} seed(s) each"
      + (f", {profile.sweep[0].epochs} epochs" if profile.sweep else "") + f"; NIF with {profile.estimator}. "
      "Flow concentration = share of the total NIF carried by the strongest 10 % of edges (a uniform flow gives about "
      "0.1; note it is not size-neutral: with few edges the top 10 % is one or two edges).\n")
    metr = ["test_accuracy", "flow_concentration", "n_communities", "modularity", "fraction_prunable", "n_dead"]
    rows = [dict(variant=spec, seeds=len(g), **{c: pm(g[c]) for c in metr}) for spec, g in sweep.groupby("spec", sort=False)]
    w(md_table(pd.DataFrame(rows)))
    w("\nAll seeds:\n")
    w(md_table(sweep[["spec", "seed", *metr, "accuracy_after"]]))
    w("")

    # 5
    cmp = R["compare"]
    w("## 5. `nifgraph compare` on the stored models (seed 0 of every network above)\n")
    t = cmp.table()[["model_id", "name", "dataset", "architecture", "activation", "test_accuracy", "n_params", "fraction_prunable",
                      "n_communities", "modularity", "flow_concentration", "top_features"]]
    w(md_table(t))
    w("\nRank agreement of NIF attributions (features × classes entries, class columns normalised), models on the same data set:\n")
    w(md_table(cmp.agreement))
    w(f"\n![compare]({rel(figures / 'compare_attributions.png')})\n")

    # 6
    if R.get("residual"):
        w(residual_section(R["residual"]))

    # disagreements
    w("## Where these results disagree with the paper, and why\n")
    acc_ok = (paper.groupby("spec")["test_accuracy"].mean() >= profile.min_accuracy).all()
    w(f"* **Accuracy.** {'The paper’s ≥ 96 % holds on average for every network' if acc_ok else 'The paper’s ≥ 96 % does not hold on average for every network'}"
      f"; {len(below)} individual seed(s) fall under it (listed in section 1). The paper reports one run per network.")
    live_flag = int((pr["flow_flagged"] - pr["candidates"]).clip(lower=0).sum())
    w("* **Pruning.** Removing *dead* neurons cannot change accuracy — a dead ReLU outputs 0 on every input — so the "
      "paper's 'no accuracy drop' is guaranteed for them and says nothing about NIF itself. Here "
      f"{len(dead_only)} network(s) had only dead neurons in the verified set (no drop, as it must be). The flow rule's "
      "fixed 0.02-nat threshold sits above MINE's null 95th percentile at N ≥ 2000 (about 0.003 nats) but near it on "
      "small data sets, and other estimators and wide layers have other noise floors, which is why nifgraph only "
      f"acts on flags the unit-level test confirms ({live_flag} "
      "flag(s) here were not confirmed) and verifies every removal on held-out data: the paper's rule, every flagged "
      f"neuron removed, cost up to {paper_drop.max():.3f} accuracy here; the verified set never more than "
      f"{pr['drop'].max():.3f} (tolerance {fmt(tol)}).")
    nets = len(R["curves"])
    others = [m for m in next(iter(R["curves"].values()))["auc"] if m != DEFAULT_PRUNE_METHOD] if nets else []
    wins = {m: sum(c["auc"][DEFAULT_PRUNE_METHOD] >= c["auc"][m] for c in R["curves"].values()) for m in others}
    nif_wins = {m: sum(c["auc"]["nif"] > c["auc"][m] for c in R["curves"].values()) for m in ("magnitude", "random")}
    w(f"* **Pruning order (beyond the paper).** The default order, {DEFAULT_PRUNE_METHOD}, had a pruning-curve AUC at "
      "least as high as " + ", ".join(f"{m} in {k} of {nets}" for m, k in wins.items()) + " network(s). NIF in-flow × "
      f"out-flow beat magnitude in {nif_wins['magnitude']} of {nets} and a random order in {nif_wins['random']} of "
      f"{nets}. Mutual information measures statistical dependence, not what the output needs: neurons that duplicate "
      "each other all carry high MI yet each is redundant, and a neuron that separates two close classes can carry "
      "little MI and still be essential. A neuron with no information can be removed safely; ranking the live ones "
      "is better done by what their removal does to the output (greedy_kl).")
    n_feat = {k[0]: len(v.feature_names) for k, v in R["attribution_examples"].items()}
    small = non_ref[non_ref["spec"].map(n_feat) <= 8]
    large = non_ref[non_ref["spec"].map(n_feat) > 8]
    txt = ""
    if len(small):
        txt += (f"on the 4-feature networks the K-S statistics of {', '.join(m for m in METHODS if m != 'raw_mi')} against raw "
                f"MI range over {small['ks_statistic'].min():.3f}–{small['ks_statistic'].max():.3f} with p-values "
                f"{small['ks_p'].min():.3f}–{small['ks_p'].max():.3f} ({int((small['ks_p'] < 0.05).sum())} of {len(small)} "
                "below 0.05): with 4 values per class the test has little power and none of the methods is told apart "
                "from raw MI")
    if len(large):
        txt += ("; " if txt else "") + (
            f"on digits (64 features × 10 classes) the statistics are {', '.join(f'{r.method} {r.ks_statistic:.3f} (p = {r.ks_p:.2g})' for r in large.itertuples())}"
            " — with 640 values K-S has power, and every method's value distribution differs from raw MI's")
    w(f"* **Attribution (Table 1).** The paper reads the K-S test backwards (section 3). Read correctly, on normalised "
      f"vectors: {txt}. K-S cannot see feature order in any case. By Spearman, NIF agrees with raw MI at "
      f"ρ = {sp_mean.get('nif', nan):.3f} on average (class_flow {sp_mean.get('class_flow', nan):.3f}, SHAP "
      f"{sp_mean.get('shap', nan):.3f}, IG {sp_mean.get('ig', nan):.3f}) — unsurprising, since NIF's first layer is "
      "itself an MI between each input and a hidden neuron. Agreement with raw MI is not faithfulness: in the deletion "
      "test the mean AUCs are "
      + ", ".join(f"{m} {auc_mean.get(m, nan):.3f}" for m in order)
      + "; per class " + ", ".join(f"{m} {aucc_mean.get(m, nan):.3f}" for m in order)
      + " (lower = the network depends more on the features ranked first).")
    if len(cs):
        less = cs.get("nif", nan) > max(cs.get("shap", nan), cs.get("ig", nan), cs.get("class_flow", nan))
        head = "The paper's NIF attributions are the least class-specific" if less else "Class specificity"
        w(f"* **{head}.** Mean Spearman between class columns (1 = one feature order for every class): "
          + ", ".join(f"{m} {cs[m]:.3f}" for m in order if m in cs.index)
          + ". A product of NIF matrices sends every hidden neuron's flow to every class, so NIF's class columns "
          "differ only through the last layer; the paper does not look at this. class_flow routes each class "
          "separately, which is why it replaced the path product as the default of `nifgraph attribution`.")
    w("")
    w("## Not done / limits\n")
    w(f"* MINE is used for every small network; digits uses {profile.digits_estimator} (documented above).")
    w("* Raw MI with a binary class indicator is estimated by KSG on the normal scores of the indicator with a 1e-10 "
      "jitter; for a binary variable this behaves as the Ross (2014) mixed estimator.")
    w(f"* Quick mode (CI) runs fewer seeds and epochs and is not the source of this file unless the profile above says "
      f"'quick'. This file: profile {profile.name}.")
    return "\n".join(L) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="CI smoke run: fewer seeds, fast estimator for digits, asserts.")
    ap.add_argument("--results", type=Path, default=None, help="Markdown output (default docs/results.md; quick: a temp folder).")
    ap.add_argument("--figures", type=Path, default=None, help="Figure folder (default docs/figures; quick: a temp folder).")
    args = ap.parse_args(argv)
    os.environ.setdefault("NIFGRAPH_BANKNOTE_CSV", str(ROOT.parent / "shared/data/banknote.csv"))
    profile = QUICK if args.quick else FULL
    if args.quick:
        out = Path(tempfile.mkdtemp(prefix="nifgraph-quick-"))
        results = args.results or out / "results.md"
        figures = args.figures or out / "figures"
    else:
        results = args.results or ROOT / "docs" / "results.md"
        figures = args.figures or ROOT / "docs" / "figures"
    R = run_all(profile, results, figures)
    passed = check(R, profile)
    for p in passed:
        print("check passed:", p)
    print(f"results: {results}\nfigures: {figures}\ntotal {R['timings']['total']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

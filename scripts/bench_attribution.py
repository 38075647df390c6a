"""Class specificity, faithfulness and bounds of attribution methods, over training seeds.

Usage::

    python scripts/bench_attribution.py [--quick] [--seeds 0,1,2] [--datasets iris,wine,digits]

Per data set and method, averaged over training seeds (95 % t-intervals):

* ``spec``  mean Spearman correlation between the class columns (all pairs of classes);
            lower = more class-specific (1 = every class ranks the features alike);
* ``del``   per-class deletion AUC (:mod:`nifgraph.analysis.attribution`'s deletion curve, class by
            class: test samples of class ``j``, features deleted in column ``j``'s order,
            fill 0 = training mean); lower = more faithful;
* ``max/bound`` the largest value and the largest stated bound of any entry, and whether
            every entry is within its own bound (``ok``). The NIF path product has no bound.

Methods: ``nif`` (the paper's path product of KSG NIF matrices), the methods of
:mod:`nifgraph.analysis.class_flow` (``flow``, ``flow_dpi`` with GCMI or KSG, edges ``bound`` or
``coinfo``; ``occlusion``), ``shap`` (DeepExplainer), ``ig`` (captum) and ``raw_mi``
(I(x_i; 1[y=j]), KSG, true labels; bound H(1[y=j]); ``raw_mi/gcmi`` the same with GCMI). Estimators run on the training split
(as a NIF run does); SHAP and IG on the test split; the deletion test on the test split.
``--quick`` (CI): wine, one seed, fewer epochs, no KSG co-information; well under a minute.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from scipy.stats import spearmanr
from scipy.stats import t as student_t

from nifgraph.analysis import class_flow as cf
from nifgraph.analysis.attribution import (
    deletion_auc,
    deletion_curve,
    ig_attribution,
    raw_mi,
    shap_attribution,
)
from nifgraph.analysis.local import attribution as path_product
from nifgraph.data import load_dataset
from nifgraph.network import TrainConfig, train_mlp
from nifgraph.nif import estimate_nif

HIDDEN = {"iris": (8,), "wine": (32, 16), "digits": (64, 32), "breast-cancer": (32, 16)}
#: (label, class_flow keyword arguments); None = a baseline computed below
FLOW_METHODS: tuple[tuple[str, dict], ...] = (
    ("flow/gcmi", dict(method="flow", estimator="gcmi")),
    ("flow/ksg", dict(method="flow", estimator="ksg")),
    ("flow_dpi/gcmi", dict(method="flow_dpi", estimator="gcmi")),
    ("flow_dpi/ksg", dict(method="flow_dpi", estimator="ksg")),
    ("flow/ksg/coinfo", dict(method="flow", estimator="ksg", edge="coinfo")),
    ("occlusion", dict(method="occlusion")),
)


def class_specificity(mat: np.ndarray) -> float:
    """Mean Spearman correlation over all pairs of class columns of (n_features, n_classes)."""
    c = mat.shape[1]
    rs = []
    for j in range(c):
        for k in range(j + 1, c):
            if np.ptp(mat[:, j]) > 0 and np.ptp(mat[:, k]) > 0:
                rs.append(spearmanr(mat[:, j], mat[:, k]).statistic)
    return float(np.mean(rs)) if rs else float("nan")


def class_deletion(predict, x: np.ndarray, y: np.ndarray, mat: np.ndarray) -> float:
    """Mean over classes of the deletion AUC of class j's test samples in column j's order."""
    aucs = []
    for j in range(mat.shape[1]):
        sel = y == j
        if sel.any():
            order = np.argsort(-mat[:, j], kind="stable")
            aucs.append(deletion_auc(deletion_curve(predict, x[sel], y[sel], order)))
    return float(np.mean(aucs))


def random_deletion(predict, x, y, n_classes: int, seed: int, orders: int = 20) -> float:
    rng = np.random.default_rng(seed)
    return float(np.mean([
        class_deletion(predict, x, y, rng.random((x.shape[1], n_classes))) for _ in range(orders)
    ]))


def ci(v) -> tuple[float, float]:
    a = np.asarray([u for u in v if np.isfinite(u)], dtype=float)
    if a.size == 0:
        return float("nan"), float("nan")
    if a.size == 1:
        return float(a[0]), float("nan")
    return float(a.mean()), float(student_t.ppf(0.975, a.size - 1) * a.std(ddof=1) / np.sqrt(a.size))


def one_seed(name: str, seed: int, epochs: int, methods, use_ksg: bool) -> dict[str, dict]:
    ds = load_dataset(name, seed=0)
    res = train_mlp(ds.x_train, ds.y_train, ds.x_test, ds.y_test,
                    TrainConfig(hidden=HIDDEN[name], epochs=epochs, seed=seed), n_classes=ds.n_classes)
    net, c = res.network, ds.n_classes
    x, xt, yt = ds.x_train, ds.x_test, ds.y_test
    out: dict[str, dict] = {}

    def add(label, mat, bound, t0):
        mat = np.asarray(mat, dtype=float)
        out[label] = dict(
            spec=class_specificity(mat), dele=class_deletion(net.predict, xt, yt, mat),
            vmax=float(mat.max()), bmax=float(np.max(bound)),
            ok=bool(np.all(mat <= np.asarray(bound) + 1e-12) and np.all(mat >= 0)), secs=time.perf_counter() - t0,
        )

    t0 = time.perf_counter()
    nif = estimate_nif(net.forward_layers(x), estimator="ksg" if use_ksg else "gcmi", seed=seed)
    add("nif (path product)", path_product(nif.values), np.inf, t0)
    for label, kw in methods:
        if not use_ksg and kw.get("estimator") == "ksg":
            continue
        t0 = time.perf_counter()
        r = cf.class_flow(net, x, seed=seed, **kw)
        add(label, r.values, r.bound, t0)
    t0 = time.perf_counter()
    bg = x[np.random.default_rng(seed).permutation(len(x))[:200]]
    add("shap", shap_attribution(net.module, bg, xt, c), np.inf, t0)
    t0 = time.perf_counter()
    add("ig", ig_attribution(net.module, xt, c), np.inf, t0)
    t0 = time.perf_counter()
    hy = cf.class_entropy(ds.y_train, c)[None, :]
    add("raw_mi", raw_mi(x, ds.y_train, c, estimator="ksg" if use_ksg else "gcmi", seed=seed), np.broadcast_to(hy, (x.shape[1], c)), t0)
    if use_ksg:  # the GCMI ceiling alone (ablation: what the routing adds to flow_dpi/gcmi)
        t0 = time.perf_counter()
        add("raw_mi/gcmi", raw_mi(x, ds.y_train, c, estimator="gcmi"), np.broadcast_to(hy, (x.shape[1], c)), t0)
    out["random order"] = dict(spec=float("nan"), dele=random_deletion(net.predict, xt, yt, c, seed),
                               vmax=float("nan"), bmax=float("nan"), ok=True, secs=0.0)
    out["_acc"] = dict(acc=res.test_accuracy)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--datasets", default="iris,wine,digits")
    ap.add_argument("--epochs", type=int, default=150)
    a = ap.parse_args()
    torch.set_num_threads(1)
    seeds = [int(s) for s in a.seeds.split(",")]
    names = a.datasets.split(",")
    epochs, methods = a.epochs, list(FLOW_METHODS)
    if a.quick:
        seeds, names, epochs = seeds[:1], ["wine"], 60
        methods = [m for m in methods if m[1].get("edge") != "coinfo"]
    t_all = time.perf_counter()
    print(f"seeds {seeds}, epochs {epochs}, 95 % t-intervals over seeds (± nan = one seed)")
    hdr = f"{'data':7s} {'method':20s} {'spec (lower=specific)':>22s} {'per-class del AUC':>20s} {'max value':>10s} {'bound':>8s} {'ok':>3s} {'s/seed':>7s}"
    for name in names:
        runs = []
        for s in seeds:
            meth = methods if name != "digits" else [m for m in methods if m[1].get("edge") != "coinfo"]
            runs.append(one_seed(name, s, epochs, meth, use_ksg=not a.quick))
        acc = ci([r["_acc"]["acc"] for r in runs])
        print(f"\n{name}: {HIDDEN[name]} hidden, test accuracy {acc[0]:.3f} ± {acc[1]:.3f}")
        print(hdr)
        for label in (k for k in runs[0] if not k.startswith("_")):
            rows = [r[label] for r in runs]
            sp, de = ci([r["spec"] for r in rows]), ci([r["dele"] for r in rows])
            vmax = max(r["vmax"] for r in rows)
            bmax = max(r["bmax"] for r in rows)
            ok = all(r["ok"] for r in rows)
            secs = np.mean([r["secs"] for r in rows])
            bs = "none" if not np.isfinite(bmax) else f"{bmax:.3f}"
            vs = "" if not np.isfinite(vmax) else f"{vmax:.3f}"
            print(f"{name:7s} {label:20s} {sp[0]:10.3f} ± {sp[1]:<9.3f} {de[0]:9.3f} ± {de[1]:<8.3f} {vs:>10s} {bs:>8s} "
                  f"{'yes' if ok else 'NO':>3s} {secs:7.1f}")
    print(f"\ntotal {time.perf_counter() - t_all:.0f} s")


if __name__ == "__main__":
    main()

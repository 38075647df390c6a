"""Matplotlib charts of comparisons: attributions of several models side by side, pruning
curves. Each writes one PNG and returns its path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .files import write_file

__all__ = ["plot_attributions", "plot_prune_curves"]


def plot_attributions(summaries: Any, path: Path) -> Path:
    """Heat maps of the NIF attributions of several models side by side (PNG)."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from ..analysis.attribution.stats import normalize_columns

    n = len(summaries)
    fig = Figure(figsize=(3.2 * n + 0.5, 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, s in zip(axes, summaries, strict=True):
        a = normalize_columns(s.attribution)
        im = ax.imshow(a, cmap="viridis", vmin=0, vmax=1, aspect="auto")
        ax.set_title(f"{s.name}\n{s.architecture} · acc {s.test_accuracy:.3f}", fontsize=8)
        ax.set_xticks(np.arange(a.shape[1]))
        ax.set_xticklabels(list(s.top_features), fontsize=6, rotation=45)
        if a.shape[0] <= 30:  # feature names as row labels
            ax.set_yticks(np.arange(a.shape[0]))
            if len(s.feature_names) == a.shape[0]:
                ax.set_yticklabels(list(s.feature_names))
        else:  # many features (digits: 64): every k-th index, not an overlapping column of numbers
            ax.set_yticks(np.arange(0, a.shape[0], -(-a.shape[0] // 16)))
        ax.tick_params(labelsize=6)
    fig.colorbar(im, ax=list(axes), shrink=0.8, label="NIF attribution (class sums to 1)")
    write_file(path, lambda tmp: fig.savefig(tmp, dpi=130, format="png"))
    return path


def plot_prune_curves(res: Any, path: Path, title: str = "") -> Path:
    """Accuracy against neurons removed, one line per method (mean ± sd over seeds), PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 3.8), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for m, acc in res.accuracy.items():
        mean, sd = acc.mean(axis=0), acc.std(axis=0)
        ax.plot(res.ks, mean, marker="o", ms=3, label=m)
        ax.fill_between(res.ks, mean - sd, mean + sd, alpha=0.15)
    ax.set_xlabel("hidden neurons removed")
    ax.set_ylabel("held-out accuracy")
    ax.set_title(title or f"pruning curves ({res.seeds} seeds)", fontsize=9)
    ax.legend(fontsize=8)
    write_file(path, lambda tmp: fig.savefig(tmp, dpi=130, format="png"))
    return path



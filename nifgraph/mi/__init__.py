"""Mutual information (nats) between neurons: every pair of two layers, or a layer and a neuron.

::

    pairwise(x, y, method="mine", *, seed=0, progress=None, workers=None, device="auto", ray=None,
             **options) -> (a, b) array
    joint(x, y, method="mine", *, seed=0, progress=None, workers=None, device="auto", ray=None,
          **options) -> (b,) array
    METHODS                                                            -> registered names
    describe(method)                                                   -> default options

Methods (see ``docs/estimators.md`` for bias, variance, cost and measured figures):

``"mine"``   MINE (Belghazi et al. 2018), one small critic per edge, all edges trained together.
``"smile"``  SMILE (Song & Ermon 2020), same critics, clipped density ratio (option ``tau``).
``"ksg"``    Kraskov-Stoegbauer-Grassberger estimator 1 (option ``k``).
``"gcmi"``   Gaussian-copula MI (Ince et al. 2017), a lower bound.

Common behaviour: inputs are numpy arrays or torch tensors of shape ``(n_samples, n_cols)``
(1-D = one column); a column with zero variance gets exactly 0 without training; negative
estimates clip to 0; the same seed gives bit-identical results on the same machine and device,
and the same values (to float rounding) for any number of ``workers`` (worker processes for the
neural estimators, kd-tree threads for KSG; None = every core); ``device`` ("auto", "cpu",
"cuda") is where the neural estimators' tensors live; ``ray`` ("local", "auto", "HOST:PORT"; the
``nifgraph[ray]`` extra) trains them as tasks on a Ray cluster instead, with the same values;
``progress(done, total)`` is called as edges finish; bad input raises
:class:`nifgraph.errors.ValidationError`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ValidationError, param_error
from ._parallel import DEVICES, check_device, check_workers, resolve_device
from ._ray import check_ray
from ._registry import REGISTRY, Where
from ._validate import check_pair, merge_options

__all__ = [
    "METHODS", "DEVICES", "pairwise", "joint", "describe", "check_options", "check_kernel", "check_where", "resolve_device",
    "ray_device",
]

#: Names of the registered estimators.
METHODS: tuple[str, ...] = tuple(REGISTRY)


def _method(method: Any, owner: str):
    if not isinstance(method, str) or method not in REGISTRY:
        raise ValidationError(
            f"{owner}: unknown method {method!r}; choose one of {', '.join(METHODS)}."
        )
    return REGISTRY[method]


def _check_common(seed: Any, progress: Any, owner: str) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise param_error("seed", owner, "a non-negative int", seed)
    if progress is not None and not callable(progress):
        raise param_error("progress", owner, "None or a callable progress(done, total)", progress)


def check_where(workers: Any = None, device: Any = "auto", owner: str = "the estimation", ray: Any = None) -> None:
    """Validate ``workers`` (None or ≥ 1), ``device`` (a GPU torch cannot see is refused, unless
    the work goes to a Ray cluster) and ``ray`` (None, "auto", "local", an address; Ray installed)."""
    check_workers(workers, owner)
    check_device(device, owner, local=check_ray(ray, owner) is None)


def ray_device(ray: str | None, device: str) -> str:
    """Where the neural estimators will run: :func:`resolve_device` locally; on a Ray cluster
    (joined here) ``"cuda"`` when its workers have GPUs and ``device`` allows, else ``"cpu"``."""
    if ray is None:
        return resolve_device(device)
    from . import _ray

    _ray.connect(ray)
    return _ray.task_device(device)[0]


def check_options(method: str, options: dict[str, Any], owner: str = "the estimator") -> dict[str, Any]:
    """Validate ``options`` of ``method`` without estimating anything (so a bad option is
    refused before a model is trained); returns the merged options."""
    m = _method(method, owner)
    opts = merge_options(m.defaults, options, owner)
    m.check(opts, owner)
    return opts


def check_kernel(opts: dict[str, Any], device: Any, owner: str, ray: Any = None) -> None:
    """``kernel="triton"`` needs a device it runs on (a CUDA GPU here; on a Ray cluster the
    tasks' device is checked where they run): refused in one line, before any work."""
    if opts.get("kernel") != "triton" or (ray is not None and device != "cpu"):
        return  # on a cluster, auto/cuda: its tasks' device is known once it is joined
    import torch

    from ._triton import unavailable

    why = unavailable(torch.device("cpu" if ray is not None else resolve_device(device)))
    if why is not None:
        raise ValidationError(f"{owner}: {why}")


def describe(method: str) -> dict[str, Any]:
    """Default options of ``method`` (a fresh dict, safe to record with a run's settings)."""
    m = _method(method, "describe")
    return {"method": m.name, "summary": m.summary, **m.defaults}


def _estimate(
    kind: str, x: Any, y: Any, method: str, seed: int, progress: Callable[[int, int], None] | None,
    workers: Any, device: Any, ray: Any, options: dict[str, Any], edges: Any = None,
) -> np.ndarray:
    """Validate everything once, then run ``method``'s ``kind`` (``pairwise`` or ``joint``)."""
    owner = f"{kind}(method={method!r})"
    m = _method(method, kind)
    _check_common(seed, progress, owner)
    ray = check_ray(ray, owner)
    where = Where(check_workers(workers, owner), check_device(device, owner, local=ray is None), ray)
    opts = merge_options(m.defaults, options, owner)
    m.check(opts, owner)
    check_kernel(opts, device, owner, ray)
    gcmi = REGISTRY["gcmi"]  # the method that needs the fewest samples
    fewer = None if m is gcmi else f"method='gcmi' (it needs {gcmi.min_samples(gcmi.defaults)})"
    xa, ya = check_pair(x, y, owner, m.min_samples(opts), fewer=fewer)
    if edges is not None:
        shape = (xa.shape[1], ya.shape[1]) if kind == "pairwise" else (ya.shape[1],)
        edges = np.asarray(edges)
        if edges.dtype != bool or edges.shape != shape:
            raise param_error("edges", owner, f"None or a bool array of shape {shape}", f"{edges.dtype} {edges.shape}")
    return getattr(m, kind)(xa, ya, opts, int(seed), progress, where, edges)


def pairwise(
    x: Any,
    y: Any,
    method: str = "mine",
    *,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
    device: str = "auto",
    ray: str | None = None,
    edges: np.ndarray | None = None,
    **options: Any,
) -> np.ndarray:
    """MI in nats between every column of ``x`` and every column of ``y``.

    Parameters
    ----------
    x : array-like or torch.Tensor, shape (n_samples, a) or (n_samples,)
    y : array-like or torch.Tensor, shape (n_samples, b) or (n_samples,)
    method : one of :data:`METHODS`
    seed : int, seeds every random choice (splits, batches, initial weights, jitter).
    progress : callable ``progress(done, total)``, called as edges finish.
    workers : None (every core) or int ≥ 1: worker processes of the neural estimators on the
        CPU (kd-tree threads for KSG). The values do not depend on it.
    device : "auto" (a GPU when torch sees one), "cpu", "cuda" or "cuda:N": where the neural
        estimators run. Reproducible per device; a GPU gives the same values to float rounding.
    ray : None, "local" (start Ray on this machine), "auto" (the cluster this machine joined)
        or a head address "HOST:PORT": train MINE/SMILE edges as Ray tasks (GPU tasks where the
        cluster has GPUs and ``device`` allows); the same values as without. Needs the
        ``nifgraph[ray]`` extra. KSG and GCMI run in this process.
    edges : None or bool array (a, b): estimate only these edges (the others are 0). An edge's
        value does not depend on which others are estimated (the screen of
        :func:`nifgraph.nif.estimate_nif` relies on it).
    **options : method options; :func:`describe` lists them with their defaults.

    Returns
    -------
    numpy.ndarray, shape (a, b), float64, non-negative.
    """
    return _estimate("pairwise", x, y, method, seed, progress, workers, device, ray, options, edges)


def joint(
    x: Any,
    y: Any,
    method: str = "mine",
    *,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
    device: str = "auto",
    ray: str | None = None,
    **options: Any,
) -> np.ndarray:
    """MI in nats between the whole multivariate ``x`` and each column of ``y``.

    Parameters and options as :func:`pairwise`. ``x`` columns with zero variance are dropped;
    if all are constant every estimate is 0.

    Returns
    -------
    numpy.ndarray, shape (b,), float64, non-negative.
    """
    return _estimate("joint", x, y, method, seed, progress, workers, device, ray, options)

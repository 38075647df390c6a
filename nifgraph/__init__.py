"""nifgraph: Neural Information Flow (NIF) of trained networks, as a graph.

Davis, Bhatt, Bhardwaj, Marculescu, Moura, "NIF: A Framework for Quantifying Neural
Information Flow in Deep Networks", AAAI 2019 workshop (arXiv:1901.08557).

Heavy modules (torch, drivers) are imported lazily so that ``import nifgraph`` and
``nifgraph --help`` stay fast.
"""

from __future__ import annotations

from . import errors
from ._target import pin_numba_target
from .errors import *  # noqa: F403 - the exception tree is part of the top-level API

pin_numba_target()  # before anything compiles numba code in this process (see nifgraph._target)

__version__ = "0.1.0"

__all__ = ["__version__", *errors.__all__]  # pyright: ignore[reportUnsupportedDunderAll]

"""nifgraph: Neural Information Flow (NIF) of trained networks, as a graph.

Davis, Bhatt, Bhardwaj, Marculescu, Moura, "NIF: A Framework for Quantifying Neural
Information Flow in Deep Networks", AAAI 2019 workshop (arXiv:1901.08557).

Heavy modules (torch, drivers) are imported lazily so that ``import nifgraph`` and
``nifgraph --help`` stay fast.
"""

from __future__ import annotations

from .errors import (
    GdsMissingError,
    NifgraphError,
    NotFoundError,
    StoreError,
    StoreUnavailableError,
    UnsupportedModelError,
    ValidationError,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "NifgraphError",
    "ValidationError",
    "UnsupportedModelError",
    "NotFoundError",
    "StoreError",
    "StoreUnavailableError",
    "GdsMissingError",
]

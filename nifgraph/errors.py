"""The nifgraph exception tree.

Every error the library raises on purpose derives from :class:`NifgraphError`, so the CLI
catches one type, prints ``Type: message`` on one line and exits 1.

::

    NifgraphError
    ├── ValidationError       bad user input (parameters, data, model files)
    │   └── UnsupportedModelError   a network nifgraph cannot read
    ├── NotFoundError         a model / run id that is not stored
    ├── StoreError            the store failed (I/O, write conflict)
    │   └── StoreUnavailableError   server down, wrong credentials, unwritable path
    └── GdsMissingError       Graph Data Science asked for but not installed

Messages name the problem and the fix, in one line.
"""

from __future__ import annotations

__all__ = [
    "first_line",
    "NifgraphError",
    "ValidationError",
    "UnsupportedModelError",
    "NotFoundError",
    "StoreError",
    "StoreUnavailableError",
    "GdsMissingError",
]


class NifgraphError(Exception):
    """Root of every error nifgraph raises on purpose."""


class ValidationError(NifgraphError, ValueError):
    """A parameter, data set or file given by the user is not acceptable."""


class UnsupportedModelError(ValidationError):
    """The network is not a feed-forward stack of Linear layers and element-wise activations."""


class NotFoundError(NifgraphError, KeyError):
    """A model or run id that the store does not hold."""

    def __str__(self) -> str:  # KeyError quotes its message; we do not want that.
        return str(self.args[0]) if self.args else ""


class StoreError(NifgraphError):
    """The store could not complete an operation (nothing was half-written)."""


class StoreUnavailableError(StoreError):
    """The store cannot be opened or reached."""


class GdsMissingError(NifgraphError):
    """Graph Data Science was requested but the server does not have it."""


def param_error(name: str, owner: str, expected: str, got: object) -> ValidationError:
    """One message template for every bad parameter (after scikit-learn's); a parameter that is
    also a command-line option is named as both."""
    flag = f" (--{name.replace('_', '-')})" if name in CLI_PARAMS else ""
    return ValidationError(
        f"The {name!r} parameter{flag} of {owner} must be {expected}. Got {got!r} instead."
    )


#: Parameters of the Python API that the CLI takes as ``--name-with-dashes`` options.
CLI_PARAMS = frozenset({
    "conv_samples", "max_positions", "null_draws", "bootstrap", "workers", "device", "tolerance", "threshold",
    "alpha", "gamma", "beta", "variant", "split", "screen_alpha", "seeds", "steps", "estimator",
})


def first_line(exc: BaseException, limit: int | None = None) -> str:
    """The first line of an exception's message (at most ``limit`` characters), or its type's
    name when the message is empty: what a one-line error quotes of a library's error."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if limit is None else line[:limit]

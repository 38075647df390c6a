"""Named fault points, for the tests that kill a job with SIGKILL at a known moment.

When ``NIFGRAPH_FAULT_PAUSE`` names a point (``train``, ``estimate``, ``write:edges``,
``write:neuron_metrics``, ``write:checkpoints``, …), the process reaching it writes its pid to
the file ``NIFGRAPH_FAULT_READY`` and then sleeps, so that a test can kill it exactly there and
check what the store holds afterwards. Unset (always, outside those tests) a point costs one
dictionary lookup.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

__all__ = ["point", "wrap"]


def point(name: str) -> None:
    """Pause here for good if the fault tests asked for ``name``."""
    if os.environ.get("NIFGRAPH_FAULT_PAUSE") != name:
        return
    ready = os.environ.get("NIFGRAPH_FAULT_READY")
    if ready:
        with open(ready, "w") as fh:
            fh.write(str(os.getpid()))
    while True:  # pragma: no cover - the test kills the process here
        time.sleep(1)


def wrap(name: str, fn: Callable[..., Any] | None) -> Callable[..., Any] | None:
    """A progress callback that reaches point ``name`` on its first call (``fn`` itself when no
    fault test runs)."""
    if os.environ.get("NIFGRAPH_FAULT_PAUSE") != name:
        return fn

    def hooked(*args: Any) -> Any:
        point(name)
        return fn(*args) if fn is not None else None  # pragma: no cover

    return hooked

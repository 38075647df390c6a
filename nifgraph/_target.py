"""The instruction set nifgraph's numba code is compiled for (see :mod:`nifgraph.mi._kernel`).

On x86-64 machines with AVX2/FMA the compiled MINE/SMILE loop targets the fixed x86-64-v3
level, not the host's own CPU. With reassociated sums, the target decides how a sum is split
across vector lanes, and so its last bits: the same call gave 4.7321 nats summed over 512 edges
compiled for an AMD Zen 4 and 4.7110 compiled for an Intel AVX-512 target (on the same
machine). One fixed target makes a seed give the same values on every x86-64-v3 machine
(measured here: as fast as the host's target).

numba reads its target when it first compiles anything in the process, so this runs on
``import nifgraph`` (cheap: it reads ``/proc/cpuinfo``). Import nifgraph before other libraries
that compile numba code at import (shap does): after them the host's target is fixed for the
process, and nifgraph leaves it (values then match other runs on the same machine only).
``NIFGRAPH_NUMBA_TARGET=host`` keeps the host's target, and a ``NUMBA_CPU_NAME`` set by the user
is left alone; the pin applies to every numba function of the process, as numba's own setting
does. Machines without AVX2/FMA, and other architectures, keep the host's target.
"""

from __future__ import annotations

import os
import platform
import sys

PORTABLE_TARGET = "x86-64-v3"
#: x86-64-v3's features as /proc/cpuinfo names them (``abm`` is LZCNT) and as llvmlite does.
_V3_CPUINFO = ("avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "abm", "movbe", "popcnt", "sse4_2", "xsave")
_V3_LLVM = ("avx", "avx2", "fma", "bmi", "bmi2", "f16c", "lzcnt", "movbe", "popcnt", "sse4.2", "xsave")


def _host_has_v3() -> bool:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return all(f in flags for f in _V3_CPUINFO)
    except OSError:
        pass
    try:  # not Linux: ask LLVM (numba's own dependency)
        import llvmlite.binding as ll

        feats = ll.get_host_cpu_features()
    except Exception:  # pragma: no cover - no llvmlite: no numba either
        return False
    return all(feats.get(f, False) for f in _V3_LLVM)


def pin_numba_target() -> str | None:
    """Point numba at :data:`PORTABLE_TARGET` (its environment settings, and its config if
    numba is already imported) unless the user chose a target or the host cannot run it.
    Returns the target pinned, or None. Idempotent."""
    if os.environ.get("NUMBA_CPU_NAME") == PORTABLE_TARGET and os.environ.get("NUMBA_CPU_FEATURES") == "":
        return PORTABLE_TARGET  # pinned before (by an earlier call, or a parent process)
    if os.environ.get("NIFGRAPH_NUMBA_TARGET", "").lower() == "host" or "NUMBA_CPU_NAME" in os.environ:
        return None
    if platform.machine().lower() not in ("x86_64", "amd64") or not _host_has_v3():
        return None
    reg = sys.modules.get("numba.core.registry")
    if reg is not None and "_toplevel_target_context" in vars(reg.cpu_target):
        # numba has compiled already (e.g. shap at its import): its target machine is fixed for
        # this process, and changing the setting now would mix two targets; keep the host's
        return None
    os.environ["NUMBA_CPU_NAME"], os.environ["NUMBA_CPU_FEATURES"] = PORTABLE_TARGET, ""
    cfg = sys.modules.get("numba.core.config")
    if cfg is not None:  # numba imported first: its config already read the environment
        cfg.CPU_NAME, cfg.CPU_FEATURES = PORTABLE_TARGET, ""
    return PORTABLE_TARGET

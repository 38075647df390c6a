"""The Makefile's benchmark targets cover every script in ``scripts/`` (the README says so): a
benchmark left out of ``bench-quick`` is not run by CI and rots."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.name for p in (ROOT / "scripts").glob("*.py"))
GPU_ONLY = {"bench_gpu.py"}  # run through scripts/gpu_session.sh (quick: in bench-quick too)


def _recipe(target: str) -> str:
    text = (ROOT / "Makefile").read_text()
    match = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n)+)", text, re.M)
    assert match, f"no {target} target in the Makefile"
    return match.group(1)


def test_bench_quick_runs_every_script_in_quick_mode():
    recipe = _recipe("bench-quick")
    quick = set(re.findall(r"scripts/(\w+\.py) --quick", recipe))
    quick |= {"bench_gpu.py"} if "scripts/gpu_session.sh --quick" in recipe else set()
    assert quick == set(SCRIPTS), sorted(set(SCRIPTS) ^ quick)


def test_bench_runs_every_script_at_full_size_but_the_gpu_one():
    recipe = _recipe("bench")
    full = set(re.findall(r"scripts/(\w+\.py)(?! --quick)\b", recipe))
    assert full == set(SCRIPTS) - GPU_ONLY, sorted((set(SCRIPTS) - GPU_ONLY) ^ full)
    assert "--quick" not in recipe


def test_every_script_takes_quick():
    for name in SCRIPTS:
        assert "--quick" in (ROOT / "scripts" / name).read_text(), f"{name} has no --quick"

"""The package builds quietly (no setuptools warnings: SPDX license, the Cypher folders declared
as data packages) and a non-editable wheel carries every Cypher file under
``nifgraph/cypher_files/``, where :func:`nifgraph.cypher.cypher_dir` finds them installed."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_wheel_builds_without_warnings_and_carries_the_cypher_files(tmp_path):
    pytest.importorskip("setuptools", minversion="77")
    src = tmp_path / "src"  # a copy: the build leaves build/ and *.egg-info next to the sources
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "cypher", src / "cypher")
    shutil.copytree(ROOT / "nifgraph", src / "nifgraph", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    res = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "w"), "."],
        cwd=src, capture_output=True, text=True, timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert "Warning" not in res.stderr and "warning" not in res.stdout.lower(), res.stderr
    wheel = zipfile.ZipFile(next((tmp_path / "w").glob("nifgraph-*.whl")))
    names = set(wheel.namelist())
    expected = {f"nifgraph/cypher_files/{p.relative_to(ROOT / 'cypher').as_posix()}"
                for p in (ROOT / "cypher").rglob("*") if p.suffix in (".cypher", ".json")}
    assert len(expected) >= 40 and expected <= names
    assert not [n for n in names if not n.startswith(("nifgraph/", "nifgraph-"))]  # no tests/, scripts/
    meta = wheel.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: MIT" in meta

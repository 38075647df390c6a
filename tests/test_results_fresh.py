"""docs/results.md must come from the sources as they are: it records a hash of every source
that produces its numbers (``scripts/reproduce_paper.py::source_hash``), and this test fails
when those sources changed without the file being regenerated."""

from __future__ import annotations

import platform
import re

from tests.conftest import load_script


def _script():
    return load_script("reproduce_paper")


def test_results_file_is_fresh():
    rp = _script()
    text = rp.RESULTS.read_text(encoding="utf-8")
    recorded = rp.recorded_hash(text)
    current = rp.source_hash()
    m = re.search(r"Total wall time (\d+) s", text)
    minutes = f"~{max(1, round(int(m.group(1)) / 60))} minutes last time" if m else "about 10 minutes"
    fix = (
        f"Regenerate it: `{rp.REGENERATE}` (Banknote from NIFGRAPH_BANKNOTE_CSV, default "
        f"../shared/data/banknote.csv) rewrites docs/results.md and docs/figures/ ({minutes} on 2 cores); "
        "commit both. Docstring and comment edits do not count as changes."
    )
    py = re.search(r"with docstrings removed, Python (\d+\.\d+)", text)
    if py and py.group(1) != ".".join(platform.python_version_tuple()[:2]):
        fix += (f" Note: the file was hashed under Python {py.group(1)} and this is Python "
                f"{platform.python_version()}; ast.dump differs between versions, so run both under the same one.")
    assert recorded is not None, f"docs/results.md has no '{rp.HASH_LINE}: <sha256>' line. {fix}"
    assert recorded == current, (
        f"docs/results.md is stale: it was generated from sources with hash {recorded}, the "
        f"{len(rp.source_files())} sources (scripts/reproduce_paper.py, nifgraph/**/*.py without cli/ and "
        f"render/) now hash to {current}. {fix}"
    )


def _tree(tmp_path, body: str):
    (tmp_path / "scripts").mkdir(parents=True, exist_ok=True)
    (tmp_path / "nifgraph" / "cli").mkdir(parents=True, exist_ok=True)
    (tmp_path / "nifgraph" / "render").mkdir(parents=True, exist_ok=True)
    (tmp_path / "scripts" / "reproduce_paper.py").write_text("X = 1\n")
    (tmp_path / "nifgraph" / "a.py").write_text(body)
    (tmp_path / "nifgraph" / "cli" / "c.py").write_text("C = 1\n")
    (tmp_path / "nifgraph" / "render" / "r.py").write_text("R = 1\n")


def test_source_hash_ignores_docstrings_and_notices_code(tmp_path):
    rp = _script()
    base = '"""Module."""\n\n\ndef f(x):\n    """Doc."""\n    return x + 1\n\n\nclass K:\n    """Doc."""\n\n    y = 2\n'
    _tree(tmp_path, base)
    files = rp.source_files(tmp_path)
    assert [f.relative_to(tmp_path).as_posix() for f in files] == ["nifgraph/a.py", "scripts/reproduce_paper.py"]
    h0 = rp.source_hash(tmp_path)

    (tmp_path / "nifgraph" / "a.py").write_text(
        base.replace('"""Doc."""', '"""Another docstring,\n    on two lines."""').replace('"""Module."""', "")
        + "# a comment\n"
    )
    assert rp.source_hash(tmp_path) == h0  # docstrings, comments, blank lines: same numbers

    (tmp_path / "nifgraph" / "cli" / "c.py").write_text("C = 2\n")
    (tmp_path / "nifgraph" / "render" / "r.py").write_text("R = 2\n")
    assert rp.source_hash(tmp_path) == h0  # presentation is not hashed

    (tmp_path / "nifgraph" / "a.py").write_text(base.replace("x + 1", "x + 2"))
    assert rp.source_hash(tmp_path) != h0  # a code change is noticed

    (tmp_path / "nifgraph" / "a.py").write_text(base)
    (tmp_path / "scripts" / "reproduce_paper.py").write_text("X = 2\n")
    assert rp.source_hash(tmp_path) != h0  # so is one in the script

    (tmp_path / "scripts" / "reproduce_paper.py").write_text("X = 1\n")
    assert rp.source_hash(tmp_path) == h0
    text = f"intro\n\n{rp.HASH_LINE}: `{h0}`\n"
    assert rp.recorded_hash(text) == h0 and rp.recorded_hash("no line") is None

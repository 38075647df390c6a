"""Help and early errors (issue #10): no ``<bool>`` / ``<str>`` placeholders in any command's
help, and a mistyped data set is refused before torch is imported (a second, not 3-8)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from nifgraph.cli import app

from .conftest import invoke


def _commands() -> list[list[str]]:
    import typer.main

    group = typer.main.get_command(app)
    out = [[]]
    for name, cmd in group.commands.items():
        out.append([name])
        for sub in getattr(cmd, "commands", {}):
            out.append([name, sub])
    return out


@pytest.mark.parametrize("cmd", _commands(), ids=lambda c: " ".join(c) or "nifgraph")
def test_help_shows_no_type_placeholders(cmd):
    res = invoke(*cmd, "--help")
    assert res.exit_code == 0, res.output
    assert not re.search(r"<(bool|str|int|float|path|Path)[^>]*>", res.output), res.output


def test_help_shows_value_types_but_not_for_flags():
    out = invoke("run", "--help").output
    assert re.search(r"--epochs\s+INTEGER", out) and re.search(r"--dropout\s+FLOAT", out)
    assert re.search(r"--json\s+Print", out)  # a flag: no type column


@pytest.mark.parametrize("command", ["run", "train"])
def test_a_mistyped_data_set_fails_before_torch_is_imported(command):
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from nifgraph.cli import app\n"
        f"r = CliRunner().invoke(app, [{command!r}, '--dataset', 'irsi'])\n"
        "print(r.exit_code, 'torch' in sys.modules)\n"
        "print(r.output)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    first, *rest = res.stdout.splitlines()
    assert first == "1 False", res.stdout + res.stderr
    assert "Unknown data set 'irsi'" in "\n".join(rest)




@pytest.mark.parametrize("cmd", [[], ["db"]], ids=["nifgraph", "db"])
def test_command_list_flows_instead_of_breaking_mid_sentence(cmd):
    """The commands panel lists each command by its first sentence, rewrapped for the terminal:
    a line followed by more of the same command's text is filled (the next word would not have
    fitted). Typer kept the docstrings' own line breaks there, leaving lines of 30-50 characters."""
    out = invoke(*cmd, "--help").output
    lines = out.splitlines()
    top = next(i for i, ln in enumerate(lines) if "Commands" in ln and ln.lstrip().startswith("╭"))
    rows = []
    for ln in lines[top + 1:]:
        if ln.lstrip().startswith("╰"):
            break
        rows.append(ln.strip()[1:-1])  # inside the box's borders
    col = len(rows[0]) - len(rows[0][1:].lstrip(" ").split("  ", 1)[-1].lstrip())  # where the text starts
    width = len(rows[0]) - col - 1
    assert len(rows) >= 3
    for row, nxt in zip(rows, rows[1:], strict=False):
        if not nxt[:col].strip():  # nxt continues row's command
            text, more = row[col:].rstrip(), nxt[col:].split()
            assert len(text) + 1 + len(more[0]) > width, f"broken early: {text!r} / {more[0]!r}\n{out}"

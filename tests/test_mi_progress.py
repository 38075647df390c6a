"""Progress with an ETA (issue #14) on long phases: the terminal bars show the time remaining,
and the plain lines (no terminal) add ``~N s left`` once a step has run a second."""

from __future__ import annotations

import io
import re
import time

from rich.console import Console

from nifgraph.cli import options


def test_terminal_bars_show_the_time_remaining(monkeypatch):
    buf = io.StringIO()
    monkeypatch.setattr(options, "err_console", Console(file=buf, force_terminal=True, width=120))
    with options.bars("NIF (mine)") as (cb,):
        cb(0, 100)
        time.sleep(0.3)
        cb(50, 100)
        cb(100, 100)
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buf.getvalue())
    assert re.search(r"NIF \(mine\).*100/100 \d+:\d\d:\d\d eta \d+:\d\d:\d\d", plain), plain


def test_plain_lines_give_the_time_left(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(time, "perf_counter", lambda: now[0])
    monkeypatch.setattr(options, "PLAIN_EVERY_S", 0.0)
    buf = io.StringIO()
    monkeypatch.setattr(options, "err_console", Console(file=buf, force_terminal=False, width=100))
    with options.bars("NIF (mine)") as (cb,):
        cb(0, 1000)
        now[0] += 20.0
        cb(250, 1000)  # a quarter in 20 s: 60 s left
        now[0] += 60.0
        cb(1000, 1000)
    assert buf.getvalue().splitlines() == [
        "NIF (mine): 250/1000 (25%) 20.0 s, ~60 s left",
        "NIF (mine): 1000/1000 done in 80.0 s",
    ]

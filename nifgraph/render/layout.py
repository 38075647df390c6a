"""Tables that stay readable at any terminal width (80 columns included), and one number format.

A :class:`FitTable` is laid out when it is printed, for the width it is given:

1. with its full headers, when everything fits;
2. else with the short headers its columns declare, and a legend under the table naming them;
3. else text columns (names, reasons) wrap onto several lines — never cut with "…";
4. else the columns are split over several tables, each repeating the key columns (the row
   labels), so no column is ever squeezed. Ids and numbers are never wrapped or cut.

:func:`fmt_num` writes numbers so that they are parseable and never rounded to nothing:
fixed decimals, or scientific notation for values too small for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

__all__ = ["Col", "FitTable", "fmt_num"]


def fmt_num(v: Any, nd: int = 3) -> str:
    """``v`` with ``nd`` decimals when that shows at least two significant digits, else in
    scientific notation (``1.2e-04``); ``—`` for a missing value. Always parseable by ``float``."""
    if v is None:
        return "—"
    try:
        fv = float(v)
    except (TypeError, ValueError):
        return str(v)
    if fv != fv:
        return "—"
    if fv == 0 or 10.0 ** (1 - nd) <= abs(fv) < 1e7 or fv in (float("inf"), float("-inf")):
        return f"{fv:.{nd}f}"
    return f"{fv:.1e}"


@dataclass(frozen=True)
class Col:
    """A column: its header, an optional abbreviation (used with a legend when the table is too
    wide) and its kind: ``id`` (never wrapped: ids are copied into the next command), ``num``
    (right-aligned, never wrapped) or ``text`` (wraps, folding a word longer than the column).
    Headers of ``id`` and ``num`` columns are never wrapped either: give long ones a ``short``."""

    header: str
    short: str = ""
    kind: str = "text"

    def head(self, short: bool) -> str:
        return self.short if short and self.short else self.header


def _text(s: Any) -> Text:
    """A cell as rich ``Text``: a ``Text`` keeps its styles; anything else is printed literally
    (a name such as ``[bold]fancy`` or ``b[/]x`` is data, never rich markup)."""
    return s if isinstance(s, Text) else Text(str(s))


def _len(s: Any) -> int:
    return _text(s).cell_len


def _longest_word(s: Any) -> int:
    return max((Text(w).cell_len for w in _text(s).plain.split()), default=0)


class FitTable:
    """A table laid out for the width it is printed at (see the module docstring).

    Parameters
    ----------
    cols : the columns, in order; the first ``keys`` of them label the rows.
    rows : one sequence of cells per row: strings, printed as they are (brackets included), or
        rich ``Text`` for a styled cell.
    title : printed above the (first) table, literally.
    keys : how many leading columns a split repeats (at least the row label).
    """

    def __init__(
        self, cols: Sequence[Col], rows: Sequence[Sequence[str]], *, title: str | None = None, keys: int = 1,
        show_header: bool = True,
    ) -> None:
        self.cols = list(cols)
        self.rows = [[_text(c) for c in r] for r in rows]
        self.title = title
        self.keys = min(max(keys, 0), len(self.cols))
        self.show_header = show_header

    # -- layout ----------------------------------------------------------------------------
    def _head_len(self, i: int, short: bool) -> int:
        return _len(self.cols[i].head(short)) if self.show_header else 0

    def _natural(self, i: int, short: bool) -> int:
        return max([self._head_len(i, short), 1] + [_len(r[i]) for r in self.rows])

    def _least(self, i: int, short: bool) -> int:
        col = self.cols[i]
        if col.kind != "text":
            return self._natural(i, short)
        words = max([_longest_word(col.head(short)) if self.show_header else 0] + [_longest_word(r[i]) for r in self.rows])
        head = self._head_len(i, short) if " " not in col.head(short) else 0
        return min(max(min(words, 10), head, 1), self._natural(i, short))

    @staticmethod
    def _total(widths: Sequence[int]) -> int:
        return sum(widths) + 3 * len(widths) - 3  # " │ " between columns, no outer border

    def plan(self, width: int) -> tuple[bool, list[list[int]]]:
        """``(short headers?, groups of column indices, one table each)`` for ``width`` cells."""
        everything = list(range(len(self.cols)))
        if self._total([self._natural(i, False) for i in everything]) <= width:
            return False, [everything]
        short = any(c.short for c in self.cols)
        if self._total([self._least(i, short) for i in everything]) <= width:
            return short, [everything]
        keys, rest = everything[: self.keys], everything[self.keys:]
        groups: list[list[int]] = []
        for i in rest:
            if groups and self._total([self._least(j, short) for j in keys + groups[-1] + [i]]) <= width:
                groups[-1].append(i)
            else:
                groups.append([i])
        return short, [keys + g for g in groups] or [keys]

    def widths(self, group: list[int], short: bool, width: int) -> list[int]:
        """Column widths of ``group`` within ``width``: natural, the widest text columns
        narrowed first, never under their least width (ids and numbers keep theirs)."""
        ws = [self._natural(i, short) for i in group]
        least = [self._least(i, short) for i in group]
        while self._total(ws) > width:
            k = max(range(len(ws)), key=lambda j: (ws[j] - least[j] > 0, ws[j]))
            if ws[k] <= least[k]:
                break
            ws[k] -= 1
        return ws

    def tables(self, width: int) -> list[Any]:
        """The tables (and the legend) to print at ``width`` cells."""
        short, groups = self.plan(width)
        out: list[Any] = []
        for n, group in enumerate(groups):
            title = self.title
            if title and len(groups) > 1:
                title = f"{title} (columns, part {n + 1} of {len(groups)})" if n == 0 else f"(continued, part {n + 1} of {len(groups)})"
            t = Table(title=None if title is None else _text(title), title_justify="left", box=box.MINIMAL_HEAVY_HEAD, show_edge=False, pad_edge=False,
                      show_header=self.show_header)
            for i, w in zip(group, self.widths(group, short, width), strict=True):
                c = self.cols[i]
                t.add_column(_text(c.head(short)), justify="right" if c.kind == "num" else "left", width=w,
                             overflow="fold", no_wrap=c.kind != "text")
            for r in self.rows:
                t.add_row(*(r[i] for i in group))
            out.append(t)
        legend = [f"{c.short} = {c.header}" for c in self.cols if short and c.short and c.short != c.header]
        if legend:  # whole entries per line: "btw = betweenness" is never split
            lines = [""]
            for entry in legend:
                sep = " · " if lines[-1].strip() else "  "
                if lines[-1].strip() and _len(lines[-1] + sep + entry) > width:
                    lines.append("  ")
                    sep = ""
                lines[-1] += sep + entry
            out.append(Text("\n".join(lines), style="dim"))
        return out

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self.tables(options.max_width)

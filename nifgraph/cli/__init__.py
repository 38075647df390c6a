"""The ``nifgraph`` command line (Typer). One module per command group -- :mod:`.job` (run,
train, estimate, analyze), :mod:`.results` (models, show, prune, attribution, plot, export,
delete), :mod:`.compare` (compare, attribution-compare, prune-curve, agreement), :mod:`.db`
(db …, query, cypher, push, pull) -- with every option declared once in :mod:`.options`.
Commands are module-level functions and thin: parse options, call the library, render. Every :class:`~nifgraph.errors.NifgraphError` is caught once here and
printed as one line ``Type: message`` on stderr with exit code 1 — never a traceback for a
user mistake. Heavy imports (torch, drivers) happen inside the commands.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from ..errors import NifgraphError


def _report(exc: BaseException) -> None:
    """One line, always: a message that quotes a multi-line cause (a parser's error text) is
    folded onto one line."""
    text = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
    typer.echo(f"{type(exc).__name__}: {text}", err=True)


class _NifGroup(TyperGroup):
    """Turns library errors into one-line messages, also under ``CliRunner``."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except NifgraphError as exc:
            _report(exc)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            typer.echo("Interrupted: nothing half-written is visible (on Neo4j, `nifgraph db repair` removes what "
                       "an interrupted write left hidden).", err=True)
            raise typer.Exit(130) from None


app = typer.Typer(
    cls=_NifGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    help="NIF: mutual information along every edge of a trained network, stored and analysed as a graph.",
)


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"nifgraph {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """NIF: mutual information along every edge of a trained network, stored and analysed as a graph."""


def _flowing_help(t: typer.Typer) -> None:
    """Docstrings are wrapped for the source, not the terminal: join each paragraph's lines (Rich
    keeps single line breaks, which left help text broken mid-sentence) and list each command by
    its first sentence."""
    for info in t.registered_commands:
        paras = [" ".join(p.split()) for p in (inspect.getdoc(info.callback) or "").split("\n\n") if p.strip()]
        if paras and info.help is None:
            info.help = "\n\n".join(paras)
        if paras and info.short_help is None:
            first = paras[0].split(". ", 1)[0]
            info.short_help = first if first.endswith(".") else first + "."
    for group in t.registered_groups:
        _flowing_help(group.typer_instance)


def _register() -> None:
    from . import compare, db, job, results

    for module in (job, results, compare, db):
        module.register(app)
    _flowing_help(app)


_register()


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except NifgraphError as exc:  # pragma: no cover - normally handled by _NifGroup
        _report(exc)
        sys.exit(1)

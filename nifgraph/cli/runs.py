"""Which run a command used, said on stderr so that stdout stays clean for ``--json``, tables
and CSV. The choice itself is the store's (:meth:`nifgraph.store.base.Store.need_run`,
:meth:`~nifgraph.store.base.Store.need_analysis`): a run id is used as given; a model id or
``latest`` gives the newest analysed run for commands that read results."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from .options import err_console

T = TypeVar("T")

__all__ = ["names_run", "run_note", "say", "on_analysed_run"]


def names_run(ref: str, run_id: str) -> bool:
    """Whether the user's ``ref`` named this run itself (an id or prefix), not a model or ``latest``."""
    ref = ref.strip()
    return ref != "latest" and run_id.startswith(ref)


def run_note(st: Any, ref: str, model: Any, run: Any, analysed: bool | None = None) -> str:
    """The line naming the run a command used and why it was chosen:
    ``run r-… (model m-…, newest analysed run)``; printed with :func:`say` once the command has
    succeeded (an error stays one line)."""
    if names_run(ref, run.run_id):
        why = ""
    else:
        runs = st.list_runs(model.model_id)
        if analysed is None:
            analysed = st.get_analysis(run.run_id) is not None
        why = f", newest {'analysed ' if analysed else ''}run"
        ids = [r.run_id for r in runs]
        newer = ids[ids.index(run.run_id) + 1:] if run.run_id in ids else []
        if newer:
            why += f"; {newer[-1]} is newer but not analysed"
    return f"run {run.run_id} (model {model.model_id}{why})"


def on_analysed_run(store: str | None, ref: str, work: Callable[..., T]) -> T:
    """``work(st, model, run, analysis)`` on the analysed run a reading command uses (read-only
    store), then the note naming that run -- said only once ``work`` has succeeded."""
    from .options import open_store_cli

    with open_store_cli(store, read_only=True) as st:
        model, run, analysis = st.need_analysis(ref)
        note = run_note(st, ref, model, run, analysed=True)
        result = work(st, model, run, analysis)
    say(note)
    return result


def say(note: str) -> None:
    """Print ``note`` on stderr, unwrapped (stdout stays clean for ``--json``, tables and CSV)."""
    err_console.print(note, soft_wrap=True, markup=False, highlight=False)

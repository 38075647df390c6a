"""Every option of the command line, declared once, and the option groups that several commands
share (data, training, estimation, analysis).

A group is a frozen dataclass whose fields are ``Annotated`` typer options. A command takes the
group as one parameter (``train: TrainOptions``); :func:`command` expands it into the group's
options for typer and packs them back into the dataclass before the command runs. So ``run``
and ``train`` share one declaration of ``--hidden``, ``--epochs``, … and each group turns its
values into the library's settings object in one place.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
import json
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, get_args, get_type_hints

import typer
from rich.console import Console

from ..errors import ValidationError
from ..records import json_clean
from ..settings import DEFAULT_TOLERANCE

if TYPE_CHECKING:  # pragma: no cover
    from ..data import Dataset
    from ..network import TrainConfig
    from ..settings import AnalysisSettings, EstimationSettings

#: Markup off: names, columns, classes and query results are printed as they are ("[bold]x",
#: "b[/]"); styled output is built as rich ``Text``.
console = Console(highlight=False, markup=False)
err_console = Console(stderr=True, highlight=False, markup=False)


def _plain_help_types() -> None:
    """Help without ``<bool>`` / ``<str>`` placeholders (typer ≥ 0.25 shows the Python type in
    angle brackets): a flag shows no type, a value an upper-case word (TEXT, INTEGER, PATH, a
    choice ``a|b``). Does nothing on a typer without ``display_type_rich``."""
    import re

    from typer import core

    _words = {"str": "TEXT", "int": "INTEGER", "float": "FLOAT", "bool": "BOOLEAN", "Path": "PATH"}

    def display_type_rich(self: Any, ctx: Any) -> str | None:
        if self.metavar is not None:
            return self.metavar
        if getattr(self, "is_flag", False):
            return None
        label = str(self.display_type(ctx) or "")
        label = re.sub(r"\b(str|int|float|bool|Path)\b", lambda m: _words[m.group(1)], label.strip("<>"))
        if "|" not in label:  # a choice keeps its values' case
            label = label.upper()
        return label + ("..." if self.nargs != 1 else "")

    for cls in (getattr(core, "TyperOption", None), getattr(core, "TyperArgument", None)):
        if cls is not None and hasattr(cls, "display_type_rich") and hasattr(cls, "display_type"):
            cls.display_type_rich = display_type_rich


_plain_help_types()

# -- single options ------------------------------------------------------------------------
StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        envvar="NIFGRAPH_STORE",
        help="Store: a DuckDB file path (default: ~/.local/share/nifgraph/nifgraph.duckdb) "
        "or a Neo4j URI (neo4j://host:7687; credentials from NEO4J_USER / NEO4J_PASSWORD).",
        show_envvar=True,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seeds the split, training, estimation and Louvain.")]
TrainSeedOpt = Annotated[int, typer.Option("--seed", help="Seeds the split and training.")]
EstimateSeedOpt = Annotated[int, typer.Option("--seed", help="Seeds the estimator (its null and bootstrap too) and Louvain.")]
AnalyzeSeedOpt = Annotated[int, typer.Option("--seed", help="Seeds Louvain.")]
NameOpt = Annotated[str | None, typer.Option("--name", help="A name for the model.")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Folder for figures and exports (default ./nifgraph-out or $NIFGRAPH_OUT).")]
HtmlOpt = Annotated[bool, typer.Option("--html", help="Also write the interactive HTML graph.")]
ModelArg = Annotated[str, typer.Argument(help="Model id or run id (or unique prefix, or 'latest').")]
ThresholdOpt = Annotated[
    float | None,
    typer.Option("--threshold", help="NIF (nats) at or under which an edge carries no flow (prunable rule). Default 0.02, or 0 when edges are filtered by significance."),
]
AlphaOpt = Annotated[
    float | None,
    typer.Option("--alpha", help="Keep only edges with BH q-value ≤ alpha. Default 0.05 for runs estimated with --null; 1 turns the filter off."),
]
ModelFileOpt = Annotated[
    Path | None,
    typer.Option("--model-file", help="Import your own trained model instead of training: a torch.export program (.pt2: any feed-forward model, CNNs and residual networks included), or an nn.Sequential MLP as TorchScript or torch.save (--trust-model-file)."),
]
InputShapeOpt = Annotated[
    str | None,
    typer.Option("--input-shape", help="One sample's shape for a --model-file torch.export program, e.g. 1,8,8 for digits as images (default: the shape it was exported with)."),
]


def parse_shape(text: str | None) -> tuple[int, ...] | None:
    """``"1,8,8"`` → ``(1, 8, 8)``; a one-line error for anything else."""
    if text is None:
        return None
    from ..errors import ValidationError

    parts = [p.strip() for p in text.split(",")]
    if not parts or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ValidationError(f"--input-shape takes positive sizes separated by commas, such as 1,8,8 (got {text!r}).")
    return tuple(int(p) for p in parts)


TrustPickleOpt = Annotated[
    bool,
    typer.Option("--trust-model-file", "--trust-pickle", help="Load a model saved with torch.save(model): a pickle that can run code when loaded. Only for files you trust."),
]
ToleranceOpt = Annotated[
    float,
    typer.Option("--tolerance", help="Largest held-out accuracy drop a pruning recommendation may cost (default 0.005, half a point: under one test sample on iris, wine, breast-cancer; 2-3 on digits, banknote)."),
]
SeedsOpt = Annotated[int, typer.Option("--seeds", help="Random orders / tie-breaks averaged.")]


# -- option groups -------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class DataOptions:
    """Which data set, and how it is split."""

    dataset: Annotated[str | None, typer.Option("--dataset", "-d", help="iris (default), wine, breast-cancer, digits, banknote, mnist, fashion-mnist or cifar10 (the last four are downloaded once and cached).")] = None
    csv: Annotated[str | None, typer.Option("--csv", help="Train on any CSV file instead (needs --target).")] = None
    target: Annotated[str | None, typer.Option("--target", help="Class column of the --csv file.")] = None
    test_size: Annotated[float, typer.Option("--test-size", help="Held-out share of the stratified split.")] = 0.3
    data_home: Annotated[str | None, typer.Option("--data-home", help="Cache folder for downloaded data sets (NIFGRAPH_DATA_HOME).")] = None
    standardize: Annotated[
        bool,
        typer.Option("--standardize/--no-standardize", help="What the model sees: features standardised with the training split's mean and std (default, as nifgraph trains), or raw (an imported model trained on raw features)."),
    ] = True

    def load(self, seed: int) -> Dataset:
        from ..data import load_dataset

        if self.csv is not None and self.dataset is not None:
            raise ValidationError(f"Give either --dataset or --csv, not both (got --dataset {self.dataset} and --csv {self.csv}).")
        if self.target is not None and self.csv is None:
            raise ValidationError(f"--target names the class column of a --csv file; add --csv FILE, or drop --target {self.target}.")
        return load_dataset(
            self.dataset or "iris", csv=self.csv, target=self.target, seed=seed, test_size=self.test_size,
            data_dir=self.data_home, standardize=self.standardize,
        )


@dataclasses.dataclass(frozen=True)
class TrainOptions:
    """How a model is trained: an MLP, or the built-in CNN / ResNet (each with its own defaults)."""

    hidden: Annotated[str | None, typer.Option("--hidden", help="Hidden layer sizes (or channels per conv layer / residual block), comma-separated, e.g. 5 or 5,5. Default 5; --arch cnn 16,32; --arch resnet 8,8.")] = None
    activation: Annotated[str, typer.Option("--activation", help="relu, tanh, sigmoid or gelu (also leaky_relu, elu, silu, softplus).")] = "relu"
    dropout: Annotated[float, typer.Option("--dropout", help="Dropout after each hidden layer.")] = 0.0
    epochs: Annotated[int | None, typer.Option("--epochs", help="Training epochs (at most 100,000). Default 200; --arch cnn|resnet 20.")] = None
    lr: Annotated[float | None, typer.Option("--lr", help="Adam learning rate. Default 0.01; --arch cnn|resnet 0.003.")] = None
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Training batch size. Default 16; --arch cnn|resnet 32.")] = None
    arch: Annotated[str, typer.Option("--arch", help="mlp (default), or for image data (digits as 1×8×8): cnn or resnet; --hidden then lists channels per conv layer / residual block.")] = "mlp"

    def refuse_with_model_file(self) -> None:
        """One line naming the training options given beside ``--model-file`` (it imports a
        trained model, so they would be ignored)."""
        defaults = TrainOptions()
        given = [f"--{f.name.replace('_', '-')}" for f in dataclasses.fields(self)
                 if getattr(self, f.name) != getattr(defaults, f.name)]
        if given:
            raise ValidationError(
                f"{', '.join(given)} {'sets' if len(given) == 1 else 'set'} how nifgraph trains a model, but --model-file "
                f"imports one already trained; drop {'it' if len(given) == 1 else 'them'} (or drop --model-file to train)."
            )

    def config(self, seed: int) -> TrainConfig:
        from ..convnets import ARCHS, train_defaults
        from ..network import TrainConfig

        if self.arch not in ARCHS:
            TrainConfig(arch=self.arch).validate()  # the one message for a bad --arch
        default = train_defaults(self.arch)  # an option not given takes its architecture's default
        return TrainConfig(
            hidden=parse_hidden(self.hidden) if self.hidden is not None else tuple(default["hidden"]),
            activation=self.activation, dropout=self.dropout,
            epochs=default["epochs"] if self.epochs is None else self.epochs,
            lr=default["lr"] if self.lr is None else self.lr,
            batch_size=default["batch_size"] if self.batch_size is None else self.batch_size,
            seed=seed, arch=self.arch,
        ).validate()


@dataclasses.dataclass(frozen=True)
class EstimateOptions:
    """How NIF is estimated (and its significance)."""

    estimator: Annotated[str, typer.Option("--estimator", "-e", help="MI estimator: mine (default), smile, ksg, gcmi, …")] = "mine"
    steps: Annotated[int | None, typer.Option("--steps", help="Training steps of neural MI estimators (default: the estimator's).")] = None
    option: Annotated[list[str] | None, typer.Option("--option", "-o", help="Extra estimator option KEY=VALUE (repeatable), e.g. -o lr=0.01, -o kernel=bmm|numba|triton (docs/estimators.md); an unknown KEY lists the valid ones.")] = None
    split: Annotated[str, typer.Option("--split", help="Samples to estimate NIF on: all (default), train or test.")] = "all"
    beta: Annotated[float, typer.Option("--beta", help="Redundancy weight β of the paper's Eq. 3 (0 = independent inputs).")] = 0.0
    variant: Annotated[str, typer.Option("--variant", help="pairwise: I(X_i;Q_k); layer: the paper's literal I(X;Q_k).")] = "pairwise"
    null: Annotated[bool, typer.Option("--null/--no-null", help="Pooled permutation null: per-edge p- and BH q-values (docs/significance.md).")] = False
    null_draws: Annotated[int | None, typer.Option("--null-draws", help="Size of the pooled null (default 1000, at most 100,000; smallest p = 1/(1+draws)).")] = None
    bootstrap: Annotated[int, typer.Option("--bootstrap", help="Half-samples (N/2 rows each) for a 95% interval per edge: 0 = none; 20+ advised; each re-estimates every edge.")] = 0
    bias_correct: Annotated[bool, typer.Option("--bias-correct", help="Subtract the null mean from every edge (needs --null).")] = False
    workers: Annotated[int | None, typer.Option("--workers", help="Worker processes (default: every core; 1 = this process only). The values do not depend on it.")] = None
    device: Annotated[str, typer.Option("--device", help="Where MINE/SMILE, the null and the bootstrap run: auto (a GPU when torch sees one), cpu or cuda.")] = "auto"
    ray: Annotated[str | None, typer.Option("--ray", help="Train MINE/SMILE edges as tasks on a Ray cluster: local (start one here), auto (the cluster this machine joined) or HOST:PORT. Same values as without. Needs pip install 'nifgraph\\[ray]'.")] = None
    screen: Annotated[str | None, typer.Option("--screen", help="Two-stage mode: gcmi screens every edge first and only edges it finds dependent (p ≤ --screen-alpha) go to MINE/SMILE; the rest keep the GCMI value (docs/estimators.md).")] = None
    screen_alpha: Annotated[float | None, typer.Option("--screen-alpha", help="The screen's p-value cut (default 0.05); only with --screen.")] = None
    conv_samples: Annotated[str, typer.Option("--conv-samples", help="A conv channel's samples: mean (over positions, default) or positions (between conv layers of one spatial size every position of every image is a sample, at most --max-positions; not independent samples, so no --null; README).")] = "mean"
    max_positions: Annotated[int | None, typer.Option("--max-positions", help="Position samples drawn at most per spatial size with --conv-samples positions (default 20,000).")] = None

    def settings(self, seed: int) -> EstimationSettings:
        from ..errors import ValidationError
        from ..settings import EstimationSettings

        if self.screen_alpha is not None and not self.screen:
            raise ValidationError("--screen-alpha sets the cut of the two-stage screen: add --screen gcmi, or drop --screen-alpha.")
        return EstimationSettings.build(
            self.estimator, split=self.split, seed=seed, beta=self.beta, variant=self.variant,
            options=parse_estimator_options(self.option, self.steps), null=self.null,
            null_draws=self.null_draws, bootstrap=self.bootstrap, bias_correct=self.bias_correct,
            workers=self.workers, device=self.device, ray=self.ray, screen=self.screen,
            screen_alpha=EstimationSettings.screen_alpha if self.screen_alpha is None else self.screen_alpha,
            conv_samples=self.conv_samples, max_positions=self.max_positions,
        )


@dataclasses.dataclass(frozen=True)
class AnalyzeOptions:
    """How a run is analysed."""

    gamma: Annotated[float, typer.Option("--gamma", help="Louvain resolution γ.")] = 1.0
    threshold: ThresholdOpt = None
    alpha: AlphaOpt = None
    engine: Annotated[str, typer.Option("--engine", help="auto, local (igraph) or gds (Neo4j Graph Data Science).")] = "auto"
    tolerance: ToleranceOpt = DEFAULT_TOLERANCE

    def settings(self, seed: int) -> AnalysisSettings:
        from ..settings import AnalysisSettings

        return AnalysisSettings(
            gamma=self.gamma, threshold=self.threshold, alpha=self.alpha, seed=seed, engine=self.engine,
            tolerance=self.tolerance,
        ).validate()


GROUPS = (DataOptions, TrainOptions, EstimateOptions, AnalyzeOptions)


#: The ``--help`` panel each group's options are listed under.
PANELS = {DataOptions: "Data", TrainOptions: "Training", EstimateOptions: "Estimation", AnalyzeOptions: "Analysis"}


def _group_parameters(group: type) -> list[inspect.Parameter]:
    hints = get_type_hints(group, include_extras=True)
    out = []
    for f in dataclasses.fields(group):
        base, *meta = get_args(hints[f.name])
        info = copy.copy(meta[0])  # the typer.Option of this field, shown in the group's panel
        info.rich_help_panel = PANELS[group]
        out.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=Annotated[base, info]))
    return out


def command(func: Callable[..., Any]) -> Callable[..., Any]:
    """Expand option-group parameters of ``func`` into their options for typer; the wrapper
    packs them back into the group before calling ``func``."""
    hints = get_type_hints(func, include_extras=True)
    params: list[inspect.Parameter] = []
    groups: dict[str, type] = {}
    for p in inspect.signature(func).parameters.values():
        ann = hints.get(p.name, p.annotation)
        if ann in GROUPS:
            groups[p.name] = ann
            params += _group_parameters(ann)
        else:
            params.append(p.replace(annotation=ann, kind=inspect.Parameter.KEYWORD_ONLY))
    names = [p.name for p in params]
    if len(set(names)) != len(names):  # pragma: no cover - a programming error
        raise TypeError(f"{func.__name__}: an option is declared twice")
    fields = {name: [f.name for f in dataclasses.fields(g)] for name, g in groups.items()}

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> Any:
        for name, group in groups.items():
            kwargs[name] = group(**{f: kwargs.pop(f) for f in fields[name]})
        return func(**kwargs)

    wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper


# -- parsing and rendering helpers --------------------------------------------------------------
def parse_hidden(spec: str) -> tuple[int, ...]:
    """``"5,5"`` → ``(5, 5)``; a clear error for anything else."""
    parts = spec.replace(" ", "").split(",")
    if "" in parts[:-1] or not parts[0]:
        raise ValidationError(f"--hidden has an empty layer size; write sizes like 5 or 64,32 (got {spec!r}).")
    try:
        sizes = tuple(int(s) for s in parts if s)
    except ValueError:
        raise ValidationError(f"--hidden must be comma-separated integers such as 5 or 64,32; got {spec!r}.") from None
    if not sizes or min(sizes) < 1:
        raise ValidationError(f"--hidden must list positive layer sizes; got {spec!r}.")
    return sizes


def parse_estimator_options(items: list[str] | None, steps: int | None) -> dict[str, Any]:
    """``--option KEY=VALUE`` items (numbers and booleans typed) plus ``--steps``."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ValidationError(f"--option takes KEY=VALUE; got {item!r}.")
        k, v = item.split("=", 1)
        val: Any = v
        for conv in (int, float):
            try:
                val = conv(v)
                break
            except ValueError:
                continue
        if v.lower() in ("true", "false"):
            val = v.lower() == "true"
        out[k.strip().replace("-", "_")] = val
    if steps is not None:
        out["steps"] = steps
    return out


def print_json(obj: Any) -> None:
    """Print ``obj`` as JSON on stdout (NaN -> null), nothing else."""
    typer.echo(json.dumps(json_clean(obj), indent=2))


def report_written(paths: Any, json_: bool) -> None:
    """The files a command wrote: a JSON list of paths, or one ``wrote …`` line each."""
    if json_:
        print_json([str(p) for p in paths])
        return
    for p in paths:
        console.print(f"wrote {p}")


def open_store_cli(uri: str | None, *, read_only: bool = False, writes: bool = False):
    """The store a command names, checked usable now (a Neo4j server that is down or refuses
    the credentials, or with ``writes`` a store file this process cannot write, fails before any
    training or estimation, not after)."""
    from ..store import open_store

    st = open_store(uri, read_only=read_only)
    try:
        st.ready()
        if writes:
            st.check_writable()
    except BaseException:
        st.close()
        raise
    return st


#: Seconds between two progress lines when stderr is not a terminal (a log, a pipe, CI).
PLAIN_EVERY_S = 10.0


@contextmanager
def bars(*descriptions: str, enabled: bool = True):
    """Progress on stderr, one ``progress(done, total)`` callback per step (``None`` when disabled).

    On a terminal: rich bars (one display, one row per step, in order) with the elapsed time and
    the time remaining (``eta``, from the step's rate so far), each clock started by its step's
    first call (``progress(0, total)`` when the step starts), so it times that step only.
    Elsewhere (a log, a pipe): plain lines, ``step: done/total (p %) t s`` (plus ``, ~r s left``
    once the step has run a second) at most every :data:`PLAIN_EVERY_S` seconds and one line
    when the step finishes — never a burst of bars at the end."""
    if not enabled:
        yield [None] * len(descriptions)
        return
    if not err_console.is_terminal:
        yield [_plain_progress(d) for d in descriptions]
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("{task.description}", style="bold", markup=False), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("eta"), TimeRemainingColumn(), console=err_console, transient=False,
    ) as prog:
        callbacks = []
        for description in descriptions:
            task = prog.add_task(description, total=None, start=False)

            def cb(done: int, total: int, _task=task) -> None:
                if prog.tasks[_task].start_time is None:
                    prog.start_task(_task)
                prog.update(_task, completed=done, total=total or None)

            callbacks.append(cb)
        yield callbacks


def compile_notice(est: Any) -> None:
    """On a terminal, one line before an estimate whose CPU training loop is not compiled for
    this machine yet (the first neural estimate after installing: ~10-30 s before its bar
    moves; later runs load numba's cache). Nothing in a log or a pipe, nor for GCMI, KSG, a
    GPU, Ray or the torch steps."""
    if not err_console.is_terminal or est.estimator not in ("mine", "smile") or est.ray:
        return
    from ..mi import _kernel
    from ..mi._parallel import resolve_device

    opts = est.options or {}
    if resolve_device(est.device) != "cpu" or opts.get("kernel", "auto") not in ("auto", "numba") or opts.get("compile"):
        return
    if _kernel.HAVE_NUMBA and not _kernel.is_cached():
        err_console.print("first NIF estimate on this machine: compiling its training loop (once, ~10-30 s)", style="dim")


def _plain_progress(description: str) -> Callable[[int, int], None]:
    """A ``progress(done, total)`` that prints plain lines on stderr (see :func:`bars`)."""
    import time

    state: dict[str, float] = {}

    def cb(done: int, total: int) -> None:
        now = time.perf_counter()
        t0 = state.setdefault("t0", now)
        if total and done >= total:
            if not state.get("finished"):
                state["finished"] = 1
                err_console.print(f"{description}: {done}/{total} done in {now - t0:.1f} s", highlight=False, markup=False)
        elif done and now - state.get("last", t0) >= PLAIN_EVERY_S:
            state["last"] = now
            share = f" ({done / total:.0%})" if total else ""
            spent = now - t0
            left = f", ~{spent * (total - done) / done:.0f} s left" if total and spent >= 1.0 else ""
            err_console.print(f"{description}: {done}/{total or '?'}{share} {spent:.1f} s{left}", highlight=False, markup=False)

    return cb

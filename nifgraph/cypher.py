"""Every Cypher statement nifgraph runs, loaded by name from ``.cypher`` files.

No Python module builds Cypher text: queries live in the repository's top-level ``cypher/``
folder (``cypher/store/put_edges.cypher`` is loaded as ``load("store/put_edges")``) and are
always run with ``$parameters``. Each file starts with a header::

    // name: queries/prunable_neurons
    // answers: Which hidden neurons of a model can be pruned?
    // params: model_id, limit:int

``params`` lists the parameter names (``none`` for no parameter) with an optional type
(``string`` by default; ``int``, ``float``, ``bool``, ``list`` or ``map``) that the CLI uses to
convert ``--param k=v``. :func:`load` checks that the header and the ``$names`` used in the
body agree, so a query can never be run with a parameter it does not declare.

Where the files are found
-------------------------
1. ``$NIFGRAPH_CYPHER_DIR`` if set;
2. ``<repository>/cypher`` next to the ``nifgraph`` package (source checkout and editable
   install -- the normal case);
3. ``nifgraph/cypher_files`` inside an installed package, for wheels that ship a copy as
   package data.

Named queries (``nifgraph query NAME``) are the files under ``cypher/queries/``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from .errors import NotFoundError, ValidationError

__all__ = [
    "CypherQuery",
    "cypher_dir",
    "load",
    "all_queries",
    "named_queries",
    "PARAM_TYPES",
]

#: Types a header may give a parameter (the CLI converts ``--param`` values to them).
PARAM_TYPES = ("string", "int", "float", "bool", "list", "map")

_HEADER = re.compile(r"^//\s*(name|answers|params)\s*:\s*(.*)$")
_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_STRING = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_CONTINUATION = re.compile(r"^//\s{2,}(.*)$")


@dataclass(frozen=True)
class CypherQuery:
    """One ``.cypher`` file.

    Attributes
    ----------
    name : str
        Path below ``cypher/`` without the suffix, e.g. ``"store/put_edges"``.
    text : str
        The whole file (Cypher accepts ``//`` comments), as sent to the server.
    description : str
        The ``answers:`` header.
    params : tuple of str
        Parameter names used in the body, sorted.
    param_types : dict
        Declared type of every parameter (``"string"`` unless the header says otherwise).
    """

    name: str
    path: Path
    text: str
    description: str
    params: tuple[str, ...]
    param_types: dict[str, str]

    @property
    def short_name(self) -> str:
        """The name without its folder (``queries/prunable_neurons`` -> ``prunable_neurons``)."""
        return self.name.rsplit("/", 1)[-1]

    @property
    def statements(self) -> list[str]:
        """The statements of a multi-statement file (schema files), split at ``;`` line ends."""
        body = _strip_comments(self.text)
        parts = re.split(r";\s*(?:\n|$)", body)
        return [p.strip() for p in parts if p.strip()]


def cypher_dir() -> Path:
    """The folder holding the ``.cypher`` files (see the module docstring for the order)."""
    env = os.environ.get("NIFGRAPH_CYPHER_DIR")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[1] / "cypher"
    if repo.is_dir():
        return repo
    return Path(__file__).resolve().parent / "cypher_files"


def _strip_comments(text: str) -> str:
    """Cypher text without ``//`` line comments (string literals kept)."""
    out = []
    for line in text.splitlines():
        # remove a // comment that is not inside a string literal
        masked = _STRING.sub(lambda m: " " * len(m.group(0)), line)
        cut = masked.find("//")
        out.append(line if cut < 0 else line[:cut])
    return "\n".join(out)


def _parse(name: str, path: Path) -> CypherQuery:
    text = path.read_text(encoding="utf-8")
    header: dict[str, str] = {}
    last = None
    for line in text.splitlines():
        if not line.startswith("//"):
            break
        m = _HEADER.match(line)
        if m:
            last = m.group(1)
            header[last] = m.group(2).strip()
        elif last == "answers" and _CONTINUATION.match(line):
            header["answers"] += " " + _CONTINUATION.match(line).group(1).strip()  # type: ignore[union-attr]
        else:
            last = None
    missing = [k for k in ("name", "answers", "params") if k not in header]
    if missing:
        raise ValidationError(
            f"Cypher file {path} lacks the header line(s) {missing}; start it with "
            "'// name: …', '// answers: …', '// params: …'."
        )
    if header["name"] != name:
        raise ValidationError(
            f"Cypher file {path} is named {header['name']!r} in its header; rename it to {name!r}."
        )
    declared: dict[str, str] = {}
    if header["params"].lower() not in ("none", "-", ""):
        for item in header["params"].split(","):
            pname, _, ptype = item.strip().partition(":")
            ptype = ptype.strip() or "string"
            if ptype not in PARAM_TYPES:
                raise ValidationError(
                    f"Cypher file {path}: parameter {pname!r} has unknown type {ptype!r}; "
                    f"use one of {', '.join(PARAM_TYPES)}."
                )
            declared[pname.strip()] = ptype
    body = _STRING.sub("''", _strip_comments(text))
    used = tuple(sorted(set(_PARAM.findall(body))))
    if set(used) != set(declared):
        raise ValidationError(
            f"Cypher file {path}: header declares parameters {sorted(declared)} but the query "
            f"uses {list(used)}; make the '// params:' line match."
        )
    return CypherQuery(
        name=name,
        path=path,
        text=text,
        description=header["answers"],
        params=used,
        param_types=declared,
    )


@cache
def _load_cached(root: str, name: str) -> CypherQuery:
    path = Path(root) / f"{name}.cypher"
    if not path.is_file():
        raise NotFoundError(
            f"No Cypher query {name!r} in {root}; list the named ones with `nifgraph query --list`."
        )
    return _parse(name, path)


def load(name: str) -> CypherQuery:
    """The query ``name`` (path below ``cypher/`` without ``.cypher``)."""
    name = name.strip().removesuffix(".cypher")
    if not re.fullmatch(r"[A-Za-z0-9_]+(/[A-Za-z0-9_]+)*", name):
        raise ValidationError(
            f"The 'name' parameter of load must be a path like 'queries/prunable_neurons'. Got {name!r} instead."
        )
    return _load_cached(str(cypher_dir()), name)


def all_queries() -> list[CypherQuery]:
    """Every ``.cypher`` file, sorted by name."""
    root = cypher_dir()
    names = sorted(p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*.cypher"))
    return [load(n) for n in names]


def named_queries() -> list[CypherQuery]:
    """The user-facing queries under ``cypher/queries/``, sorted by name."""
    return [q for q in all_queries() if q.name.startswith("queries/")]


def named(name: str) -> CypherQuery:
    """A named query by its short name (``prunable_neurons``) or full name."""
    short = name.strip().removeprefix("queries/")
    known = {q.short_name: q for q in named_queries()}
    if short not in known:
        raise NotFoundError(
            f"No named query {name!r}; known: {', '.join(sorted(known))} "
            "(see `nifgraph query --list`)."
        )
    return known[short]


#: What a named query's parameter may hold, by name (a name means the same in every query):
#: (check, what it must be).
PARAM_RULES: dict[str, tuple[Any, str]] = {
    "limit": (lambda v: v >= 1, "an int ≥ 1 (the most rows to return)"),
    "k": (lambda v: v >= 1, "an int ≥ 1 (edges kept per neuron)"),
    "feature_idx": (lambda v: v >= 0, "an input feature's index (0, 1, …)"),
    "top": (lambda v: 0 < v <= 1, "a fraction in (0, 1] (0.1 = the strongest 10 % of edges)"),
    "alpha": (lambda v: 0 <= v <= 1, "a significance level in [0, 1] (e.g. 0.05)"),
}


def beyond_int64(value: Any) -> bool:
    """Whether ``value`` holds (at any depth of lists and maps) an integer that Cypher's
    64-bit integers cannot (the driver fails with an OverflowError)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return not -(2**63) <= value < 2**63
    if isinstance(value, list | tuple):
        return any(beyond_int64(v) for v in value)
    return isinstance(value, dict) and any(beyond_int64(v) for v in value.values())


def check_value(query: CypherQuery, key: str, value: Any) -> Any:
    """``value`` if it fits the ``key`` parameter of ``query`` (its declared type, a finite
    number, :data:`PARAM_RULES`); else a one-line error naming what it must be."""
    import math

    kind = query.param_types.get(key, "string")
    rule = PARAM_RULES.get(key)
    want = {"int": int, "float": (int, float), "bool": bool, "list": (list, tuple), "map": dict}.get(kind, str)
    numeric = kind in ("int", "float")
    fits = isinstance(value, want) and not (numeric and isinstance(value, bool))
    fits = fits and not beyond_int64(value) and not (kind == "float" and not math.isfinite(value))
    fits = fits and not (kind == "list" and not value) and not (numeric and rule is not None and not rule[0](value))
    if not fits:
        what = rule[1] if rule else {"list": "a non-empty list (a,b,c or a JSON list)", "string": "a string"}.get(kind, f"a {kind}")
        if kind == "int" and beyond_int64(value):
            what += " that fits in 64 bits"
        raise ValidationError(f"The {key!r} parameter of query {query.short_name!r} must be {what}; got {value!r}.")
    return list(value) if kind == "list" else value


def convert_param(query: CypherQuery, key: str, raw: str) -> object:
    """Convert a ``--param key=raw`` string to the type the query header declares (a list:
    ``a,b,c`` or a JSON list), checked by :func:`check_value`."""
    import json

    if key not in query.param_types:
        raise ValidationError(
            f"Query {query.short_name!r} takes no parameter {key!r}; it takes "
            f"{', '.join(query.params) or 'none'}."
        )
    kind = query.param_types[key]
    value: Any = raw
    try:
        if kind == "int":
            value = int(raw)
        elif kind == "float":
            value = float(raw)
        elif kind == "bool":
            if raw.lower() in ("1", "true", "yes", "y"):
                value = True
            elif raw.lower() in ("0", "false", "no", "n"):
                value = False
            else:
                raise ValueError(raw)
        elif kind == "list":
            value = json.loads(raw) if raw.lstrip().startswith("[") else [s.strip() for s in raw.split(",") if s.strip()]
        elif kind == "map":
            value = json.loads(raw)
    except ValueError:
        value = raw  # not of the type: check_value says what it must be
    return check_value(query, key, value)

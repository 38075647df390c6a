"""The package's shape holds: no import cycle inside ``nifgraph``, data flows one way through the
layers of ``docs/architecture.md``, and nothing outside ``nifgraph/store/`` touches a private
name of a store. Static: the sources are parsed, nothing is imported."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "nifgraph"

#: Lowest first; a module may import its own layer and those below (docs/architecture.md).
LAYERS: list[tuple[str, ...]] = [
    ("errors", "config", "records", "cypher", "faults", "_target", "_scratch"),
    ("data", "network", "checkpoint", "flowgraph", "stored", "dag", "dag_shrink", "convnets"),
    ("mi", "nif", "significance", "settings"),
    ("store",),
    ("analysis",),
    ("pipeline",),
    ("render",),
    ("cli",),
]


def _module(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(mod: str, is_pkg: bool, node: ast.ImportFrom) -> list[str]:
    """Absolute module names an ``from … import …`` statement loads."""
    if node.level:
        base = mod.split(".") if is_pkg else mod.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    # "from . import x" loads the submodule x (the package itself is already loading)
    return [f"{target}.{a.name}" for a in node.names] + ([target] if node.module else [])


def _imports(top_level_only: bool) -> dict[str, set[str]]:
    """Module -> the nifgraph modules it imports (at import time only, or anywhere)."""
    mods = {_module(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        nodes = tree.body if top_level_only else list(ast.walk(tree))
        if top_level_only:  # skip `if TYPE_CHECKING:` blocks, include other top-level ifs/tries
            flat = []
            for n in nodes:
                if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test):
                    continue
                flat.extend(ast.walk(n) if isinstance(n, ast.If | ast.Try) else [n])
            nodes = flat
        for node in nodes:
            names: list[str] = []
            if isinstance(node, ast.ImportFrom):
                names = _resolve(mod, path.name == "__init__.py", node)
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                while name and name not in mods:  # "nifgraph.analysis.local.x" -> the module
                    name = name.rpartition(".")[0]
                if name and name != mod and name.startswith("nifgraph"):
                    graph[mod].add(name)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _layer(mod: str) -> int | None:
    parts = mod.split(".")
    if len(parts) < 2:
        return None  # the package root re-exports the errors
    for i, names in enumerate(LAYERS):
        if parts[1] in names:
            return i
    return None


def test_the_checker_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_scan_sees_relative_and_lazy_imports():
    top, every = _imports(top_level_only=True), _imports(top_level_only=False)
    assert "nifgraph.analysis" in top["nifgraph.pipeline"]  # from .analysis import analyze_run
    assert "nifgraph.flowgraph" in every["nifgraph.nif"] - top["nifgraph.nif"]  # inside a function
    assert _layer("nifgraph.store.base") < _layer("nifgraph.analysis.gds") < _layer("nifgraph.cli.job")


def test_no_import_cycle_inside_nifgraph():
    assert _cycles(_imports(top_level_only=True)) == []


def test_every_module_has_a_layer():
    missing = [m for m in _imports(False) if m != "nifgraph" and m != "nifgraph.__main__" and _layer(m) is None]
    assert missing == [], f"add these modules to LAYERS (and docs/architecture.md): {missing}"


def test_data_flows_one_way_through_the_layers():
    """Also imports inside functions: a lazy import upwards is still a dependency upwards."""
    bad = []
    for mod, deps in _imports(top_level_only=False).items():
        lm = _layer(mod)
        for dep in deps:
            ld = _layer(dep)
            if lm is not None and ld is not None and ld > lm:
                bad.append(f"{mod} (layer {lm}) imports {dep} (layer {ld})")
    assert bad == []


def _private_store_names() -> set[str]:
    names: set[str] = set()
    for path in (PKG / "store").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            name = getattr(node, "name", None)
            if isinstance(node, ast.FunctionDef | ast.ClassDef) and name and name.startswith("_") and not name.startswith("__"):
                names.add(name)
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                if isinstance(node.value, ast.Name) and node.value.id == "self":
                    names.add(node.attr)
    return names


@pytest.mark.parametrize("folder", ["nifgraph", "scripts"])
def test_no_private_store_name_outside_store(folder):
    private = _private_store_names()
    assert {"_write", "_purge_run", "_tx"} <= private  # the scan sees the stores' private API
    hits = []
    for path in (ROOT / folder).rglob("*.py"):
        if path.is_relative_to(PKG / "store"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in private and not (
                isinstance(node.value, ast.Name) and node.value.id == "self"
            ):
                hits.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}")
            if isinstance(node, ast.ImportFrom) and "store" in (node.module or ""):
                hits += [f"{path.relative_to(ROOT)}:{node.lineno} import {a.name}" for a in node.names if a.name.startswith("_")]
    assert hits == []

"""The package's layers import one way (docs/architecture.md), and no module imports one that imports it back.

Every ``import`` statement of every module counts, wherever it stands (module
level, inside a function, under ``TYPE_CHECKING``): a type-only arrow is still
an arrow a reader follows.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pystream

ROOT = Path(pystream.__file__).parent

# Layer -> the layers it may import (besides itself). Read bottom-up: storage knows only
# the Rust core and the exceptions; the broker and the embedded client both stand on
# storage and know nothing of each other; the cluster stands on the broker. `security` (TLS
# contexts, SASL mechanisms, ACLs, quotas: nothing of the wire) stands on nothing but the
# exceptions; the wire's clients and servers use it.
ALLOWED: dict[str, set[str]] = {
    "_core": set(),
    "errors": set(),
    "storage": {"_core", "errors"},
    "security": {"errors"},
    "protocol": {"security", "errors"},
    "coordinator": {"storage", "protocol", "errors", "_core"},
    "client": {"storage", "coordinator", "protocol", "errors", "_core"},
    "server": {"storage", "protocol", "coordinator", "security", "errors", "_core"},
    "replication": {"storage", "protocol", "security", "errors", "_core"},
    "cluster": {"server", "replication", "storage", "protocol", "coordinator", "security", "errors", "_core"},
    "tools": {"protocol", "security", "errors", "_core"},
}
TOP = {"__init__", "cli", "serve", "bench", "__main__"}  # composition roots and the CLI: may import anything


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in ROOT.rglob("*.py")}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The pystream modules `name` imports (a `from pkg import sub` names the submodule)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:  # `import pystream.x.y` of a package path: the deepest known module
                t = t.rpartition(".")[0]
            if t.startswith("pystream") and t != name:
                out.add(t)
    return out


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods) | {"pystream._core"}
    return {name: _imports(name, path, known) for name, path in mods.items()}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                out.append(sorted(scc))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_walker_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text("def f():\n    from pystream.server import broker\n    from . import log\n")
    known = {"pystream.server", "pystream.server.broker", "pystream.storage", "pystream.storage.log"}
    assert _imports("pystream.storage.m", src, known) == {"pystream.server.broker", "pystream.storage.log"}


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles() -> None:
    cycles = _cycles(_graph())
    assert not cycles, "modules that import each other (directly or around a loop): " + "; ".join(" <-> ".join(c) for c in cycles)


def test_layers_import_one_way() -> None:
    wrong = []
    for module, targets in sorted(_graph().items()):
        layer = _layer(module)
        if layer in TOP:
            continue
        if layer not in ALLOWED:
            pytest.fail(f"{module}: package {layer!r} has no place in the layer map of this test (and of docs/architecture.md)")
        for t in sorted(targets):
            tl = _layer(t)
            if tl != layer and tl not in ALLOWED[layer]:
                wrong.append(f"{module} -> {t}")
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)

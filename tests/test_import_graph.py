"""The import graph of the package has no cycles: between subpackages, or between modules (function-level imports
included, which Python's own import machinery would hide until the function runs)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# source folder -> the package it installs as (pyproject's package-dir)
SOURCES = {"had_snn": "had_snn", "conversion": "had_snn.conversion", "hardware": "had_snn.hardware"}
#: layers that must never import the layers above them (besides having no cycle)
LIBRARY_MUST_NOT_IMPORT = {"had_snn.commands": "argument parsing is the CLI's; library code takes plain values"}


def module_files() -> dict[str, Path]:
    mods = {}
    for folder, package in SOURCES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = [p for p in path.relative_to(ROOT / folder).with_suffix("").parts if p != "__init__"]
            mods[".".join([package, *parts])] = path
    return mods


def imports_of(name: str, path: Path, modules: set[str]) -> list[tuple[str, int]]:
    """Every project module ``name`` imports, anywhere in the file, with the line; ``from pkg import sub`` counts
    as importing ``pkg.sub`` when that is a module."""
    found = []
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        found += [(t, node.lineno) for t in targets if t in modules and t != name]
    return found


def graph(level: str) -> tuple[dict[str, set[str]], dict[tuple[str, str], str]]:
    """Edges between modules (``level='module'``) or subpackages (``'package'``: ``had_snn.X``), with one example
    import per edge."""
    files = module_files()
    names = set(files)

    def node(mod: str) -> str:
        return mod if level == "module" else ".".join(mod.split(".")[:2])

    edges: dict[str, set[str]] = defaultdict(set)
    example: dict[tuple[str, str], str] = {}
    for mod, path in files.items():
        for target, line in imports_of(mod, path, names):
            a, b = node(mod), node(target)
            if a != b and b != "had_snn":
                edges[a].add(b)
                example.setdefault((a, b), f"{path.relative_to(ROOT)}:{line} imports {target}")
    return edges, example


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(set(edges) | {w for ws in edges.values() for w in ws}):
        if v not in index:
            visit(v)
    return found


def describe(comp: list[str], edges: dict[str, set[str]], example: dict[tuple[str, str], str]) -> str:
    inside = [f"    {example[(a, b)]}" for a in comp for b in sorted(edges.get(a, ())) if b in comp]
    return " <-> ".join(comp) + "\n" + "\n".join(inside)


@pytest.mark.parametrize("level", ["package", "module"])
def test_no_import_cycles(level: str) -> None:
    edges, example = graph(level)
    found = cycles(edges)
    assert not found, f"import cycles between {level}s:\n" + "\n".join(describe(c, edges, example) for c in found)


def test_the_cycle_finder_finds_a_cycle() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(edges) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_relative_and_submodule_imports_resolve(tmp_path) -> None:
    src = tmp_path / "mod.py"
    src.write_text("from . import sibling\nfrom had_snn.models import lif_cpu\n\ndef f():\n    import had_snn.data\n")
    mods = {"pkg.sibling", "had_snn.models", "had_snn.models.lif_cpu", "had_snn.data", "pkg.mod"}
    assert imports_of("pkg.mod", src, mods) == [("pkg.sibling", 1), ("had_snn.models.lif_cpu", 2),
                                                ("had_snn.data", 5)]


def test_library_code_does_not_import_the_cli() -> None:
    edges, example = graph("package")
    bad = [example[(a, b)] for a, targets in edges.items() for b in targets
           if b in LIBRARY_MUST_NOT_IMPORT and a != "had_snn.cli"]
    assert not bad, "\n".join(bad)

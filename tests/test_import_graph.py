"""The import graph of the packages: layers only point down, and no module cycle (lazy imports count too).

    core  <-  prompts, parsers  <-  llms  <-  chains  <-  apps
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# A package may import those of a lower rank (and itself); equal ranks (prompts, parsers) know nothing of each other.
RANK = {"core": 0, "prompts": 1, "parsers": 1, "llms": 2, "chains": 3, "apps": 4}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    return ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for package in RANK for p in sorted((ROOT / package).rglob("*.py"))}


def imports_of(source: str) -> list[tuple[int, str]]:
    """(line, module) for every absolute import in `source`, at module level or inside functions."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return found


def upward_imports(sources: dict[str, str]) -> list[str]:
    """`module:line imports target` for each import of a package at the same or a higher layer."""
    offenders = []
    for name, source in sources.items():
        here = name.split(".")[0]
        for line, target in imports_of(source):
            there = target.split(".")[0]
            if there in RANK and there != here and RANK[there] >= RANK[here]:
                offenders.append(f"{name}:{line} imports {target}")
    return offenders


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle in `graph` as a list of nodes (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    trail: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        trail.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*trail[trail.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        trail.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_no_package_imports_a_higher_or_sibling_layer() -> None:
    modules = _modules()
    assert {"core.errors", "llms.registry", "apps.cli", "chains.movies"} <= set(modules)  # the walk found them
    assert upward_imports({name: path.read_text(encoding="utf-8") for name, path in modules.items()}) == []


def test_no_import_cycle_between_modules() -> None:
    modules = _modules()
    graph = {
        name: {target for _, target in imports_of(path.read_text(encoding="utf-8")) if target in modules} - {name}
        for name, path in modules.items()
    }
    assert find_cycle(graph) is None


@pytest.mark.parametrize(
    ("graph", "cycle"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
        ({"a": {"b"}, "b": set(), "c": {"b"}}, None),
    ],
)
def test_the_cycle_finder_finds_cycles_and_only_cycles(graph: dict[str, set[str]], cycle: list[str] | None) -> None:
    assert find_cycle(graph) == cycle


def test_upward_and_sibling_imports_are_reported_lazy_ones_too() -> None:
    sources = {
        "parsers.x": "import json\n\ndef f():\n    from llms.errors import RecipesError\n",  # lazy, upward
        "prompts.y": "from parsers import parse_json\n",  # sibling layer
        "chains.z": "from llms import load_model\nfrom core import RecipesError\n",  # both downward: fine
    }
    assert upward_imports(sources) == ["parsers.x:4 imports llms.errors", "prompts.y:1 imports parsers"]

"""The runnable examples in every package's docstrings stay true: every module with a `>>>` is found and run."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "prompts", "parsers", "llms", "chains", "apps")


def modules_with_examples() -> list[str]:
    """Every module of the packages whose source holds a docstring example (found by text: nothing imported)."""
    names = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if ">>> " in path.read_text(encoding="utf-8"):
                rel = path.relative_to(ROOT).with_suffix("")
                names.append(".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts))
    return names


MODULES = modules_with_examples()


def test_the_walk_finds_the_examples() -> None:
    assert {"core", "parsers", "llms.structured", "chains.movies", "apps.cli_prompts"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    examples = [ex for test in doctest.DocTestFinder().find(module) for ex in test.examples]
    runnable = [ex for ex in examples if not ex.options.get(doctest.SKIP)]
    assert examples, f"{name}: '>>> ' in the source but no docstring example"
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted == len(runnable)

"""Each package's public API: what `__all__` names exists, says in a line what it is, and hides no module."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

PACKAGES = ["core", "prompts", "parsers", "llms", "chains"]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_exists_and_has_a_docstring(package: str) -> None:
    module = importlib.import_module(package)
    undocumented = []
    for name in module.__all__:
        value = getattr(module, name)  # AttributeError names a listed but missing name
        if (inspect.isclass(value) or callable(value)) and not (inspect.getdoc(value) or "").strip():
            undocumented.append(name)
    assert undocumented == []


@pytest.mark.parametrize("package", PACKAGES)
def test_no_public_name_shadows_a_submodule(package: str) -> None:
    module = importlib.import_module(package)
    submodules = {info.name for info in pkgutil.iter_modules(module.__path__)}
    assert sorted(set(module.__all__) & submodules) == []
    for sub in submodules:  # `import chains.movies` gives the module, not a function of the same name
        assert inspect.ismodule(importlib.import_module(f"{package}.{sub}"))
        assert getattr(module, sub, None) is None or inspect.ismodule(getattr(module, sub))


def test_chains_exports_recipes_and_the_composition_helper_not_internals() -> None:
    import chains

    assert {"movie_night", "perfect_day", "json_qa", "translate", "chat", "sequential", "judge_pairs"} <= set(
        chains.__all__
    )
    assert not {"Answer", "History", "rouge_l", "Tally", "StateChunk"} & set(chains.__all__)
    assert len(chains.__all__) <= 25

"""The runnable examples in the prompts' docstrings stay true."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "prompts",
    "prompts.safety",
    "prompts.spec",
    "prompts.strict",
    "prompts.build",
    "prompts.paths",
    "prompts.library",
    "apps.cli_prompts",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0

"""The runnable examples in the chains and llms docstrings stay true."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "chains.chat",
    "chains.json_qa",
    "chains.language",
    "chains.matching",
    "chains.movie_night",
    "chains.perfect_day",
    "chains.sequential",
    "chains.steps",
    "chains.translate",
    "llms",
    "llms.fake",
    "llms.registry",
    "llms.stops",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0

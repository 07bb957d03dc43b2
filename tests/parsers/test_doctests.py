"""The runnable examples in the parsers' docstrings stay true."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "parsers",
    "parsers.errors",
    "parsers.scan",
    "parsers.extract",
    "parsers.repair",
    "parsers.json_parser",
    "parsers.text",
    "parsers.reask",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0

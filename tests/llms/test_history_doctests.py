"""The docstring examples of the history, cache and record/replay modules stay true."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["apps.cli_logs", "llms.cassette", "llms.history_db", "llms.replay", "llms.serial", "llms.sqlite_store"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0

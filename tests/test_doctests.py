"""The runnable examples in every package's docstrings stay true (one list for the whole project)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "apps.cli_prompts",
    "apps.runner",
    "chains",
    "chains.catalogue",
    "chains.files",
    "chains.conversation",
    "chains.answers",
    "chains.judge",
    "chains.language",
    "chains.matching",
    "chains.movies",
    "chains.itinerary",
    "chains.self_instruct",
    "chains.composition",
    "chains.steps",
    "chains.translation",
    "llms",
    "llms.capabilities",
    "llms.engines.base",
    "llms.engines.device",
    "llms.fake",
    "llms.fallback",
    "llms.grammar",
    "llms.openai_backend",
    "llms.openai_errors",
    "llms.options",
    "llms.providers",
    "llms.redact",
    "llms.registry",
    "llms.response_format",
    "llms.spec",
    "llms.stops",
    "llms.structured",
    "parsers",
    "parsers.errors",
    "parsers.extract",
    "parsers.json_parser",
    "parsers.reask",
    "parsers.repair",
    "parsers.scan",
    "parsers.stream",
    "parsers.text",
    "prompts",
    "prompts.build",
    "prompts.library",
    "prompts.paths",
    "prompts.safety",
    "prompts.spec",
    "prompts.strict",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0

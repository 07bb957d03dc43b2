"""Opt-in checks against the real OpenAI API: `pytest -m live` with OPENAI_API_KEY set (never in the default run)."""

from __future__ import annotations

import os

import pytest

from llms import load_model

pytestmark = pytest.mark.live


@pytest.fixture
def model():  # type: ignore[no-untyped-def]
    if not os.environ.get("OPENAI_API_KEY"):
        pytest.fail("set OPENAI_API_KEY to run the live tests")
    return load_model(os.environ.get("RECIPES_LIVE_MODEL", "openai:gpt-4o-mini"), max_new_tokens=32)


def test_live_perfect_day(model) -> None:  # type: ignore[no-untyped-def]
    from chains import perfect_day

    answer = perfect_day(model).invoke({"city": "Paris"})
    assert "Paris" in answer or len(answer.split()) > 5


def test_live_json_qa(model) -> None:  # type: ignore[no-untyped-def]
    from chains import json_qa

    assert "4" in json_qa(model).invoke({"question": "What is 2+2? Answer with a digit."}).answer

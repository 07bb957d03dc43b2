"""Format-time variable checks: missing and unexpected variables are named; user values are never templates."""

from __future__ import annotations

import asyncio

import pytest
from langchain_core.prompts import ChatPromptTemplate, PromptTemplate

from prompts import StrictPromptTemplate, TemplateVariableError, get

ALL_KINDS = [("json_answer", "question"), ("chat_assistant", "question"), ("translate_few_shot", "word")]


def render(name: str, **values: str) -> str:
    return get(name).invoke(values).to_string()


@pytest.mark.parametrize(("name", "var"), ALL_KINDS)
def test_missing_variable_is_named_on_invoke(name: str, var: str) -> None:
    with pytest.raises(TemplateVariableError, match=f"prompt '{name}' is missing variable\\(s\\): {var}$"):
        get(name).invoke({})


@pytest.mark.parametrize(("name", "var"), ALL_KINDS)
def test_missing_variable_is_named_on_format(name: str, var: str) -> None:
    with pytest.raises(TemplateVariableError, match=f"missing variable\\(s\\): {var}"):
        get(name).format()


@pytest.mark.parametrize(("name", "var"), ALL_KINDS)
def test_unexpected_variable_is_an_error(name: str, var: str) -> None:
    with pytest.raises(TemplateVariableError, match=f"unexpected variable\\(s\\): qestion \\(expected: {var}\\)"):
        get(name).invoke({var: "x", "qestion": "typo"})


def test_unexpected_variable_on_chat_format_messages() -> None:
    with pytest.raises(TemplateVariableError, match="unexpected variable"):
        template = get("chat_assistant")
        assert isinstance(template, ChatPromptTemplate)
        template.format_messages(question="q", extra="e")


@pytest.mark.parametrize(("name", "var"), ALL_KINDS)
def test_user_value_with_braces_is_rendered_literally(name: str, var: str) -> None:
    value = "{secret} {x.__class__} {{y}} {0}"
    assert value in render(name, **{var: value})


def test_stock_prompt_template_would_silently_accept_extras() -> None:
    # Why the strict subclass exists: LangChain ignores unexpected variables.
    stock = PromptTemplate.from_template("Hi {name}")
    assert stock.format(name="A", nmae="typo") == "Hi A"
    strict = StrictPromptTemplate(template="Hi {name}", input_variables=["name"], name="hi")
    with pytest.raises(TemplateVariableError, match="nmae"):
        strict.format(name="A", nmae="typo")


def test_partial_variables_still_work() -> None:
    template = get("alpaca_instruction_input").partial(input="고양이")
    assert isinstance(template, StrictPromptTemplate)
    assert "### Input:\n고양이" in template.format(instruction="Translate.")
    with pytest.raises(TemplateVariableError, match="instruction"):
        template.format()


def test_single_variable_shorthand_invoke() -> None:
    value = get("perfect_day").invoke("서울")  # type: ignore[arg-type]  # LangChain's one-variable shorthand
    assert value.to_string() == "Describe a perfect day in 서울 in one short paragraph."


def test_async_paths_check_variables() -> None:
    async def run() -> None:
        with pytest.raises(TemplateVariableError, match="missing"):
            await get("chat_assistant").ainvoke({})
        with pytest.raises(TemplateVariableError, match="unexpected"):
            await get("translate_one_shot").aformat(word="x", other="y")
        value = await get("json_answer", "ko").ainvoke({"question": "{secret}"})
        assert value.to_string().endswith(": {secret}")

    asyncio.run(run())

"""with_reask: on a parse failure the model is called again with the error, a bounded number of times."""

from __future__ import annotations

import asyncio

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel

import prompts
from llms.fake import FakeChatModel
from parsers import JsonParser, OutputParseError, SchemaValidationError, with_reask
from parsers.reask import ReaskResult


def test_second_attempt_sees_the_error_and_the_callers_messages_are_untouched() -> None:
    model = FakeChatModel(responses=["not json", '{"answer": 4}'])
    messages: list[BaseMessage] = [SystemMessage(content="Reply in JSON."), HumanMessage(content="2+2?")]
    before = list(messages)
    result = with_reask(model, JsonParser()).invoke(messages)
    assert isinstance(result, ReaskResult)
    assert result.value == {"answer": 4}
    assert result.attempts == 2
    assert result.errors == ("no JSON object or array found",)
    assert messages == before and len(messages) == 2  # the caller's list was not mutated
    first, second = model.calls
    assert first == before
    assert second[:2] == before
    assert isinstance(second[2], AIMessage) and second[2].content == "not json"
    assert isinstance(second[3], HumanMessage)
    assert "no JSON object or array found" in str(second[3].content)


def test_gives_up_after_max_attempts_with_the_typed_error() -> None:
    model = FakeChatModel(responses=["nope", "still nope", '{"a": 1'])
    with pytest.raises(OutputParseError) as info:
        with_reask(model, JsonParser(), max_attempts=3).invoke("give JSON")
    assert len(model.calls) == 3
    assert info.value.attempts == 3
    assert "cut off" in str(info.value)  # the last attempt's error (a truncation)


def test_first_success_takes_one_attempt() -> None:
    model = FakeChatModel(responses=['{"a": 1}'])
    result = with_reask(model, JsonParser()).invoke("q")
    assert (result.value, result.attempts, result.errors) == ({"a": 1}, 1, ())
    assert len(model.calls) == 1


def test_schema_errors_are_reasked_with_the_field_path() -> None:
    class Answer(BaseModel):
        answer: int

    model = FakeChatModel(responses=['{"answer": "four"}', '{"answer": 4}'])
    result = with_reask(model, JsonParser(schema=Answer)).invoke("2+2?")
    assert result.value == Answer(answer=4)
    assert "answer: Input should be a valid integer" in str(model.calls[1][-1].content)


def test_composes_after_a_prompt_in_lcel() -> None:
    model = FakeChatModel(responses=["음...", '{"answer": "서울"}'])
    chain = prompts.get("json_answer", "ko") | with_reask(model, JsonParser(), max_attempts=2)
    result = chain.invoke({"question": "한국의 수도는?"})
    assert result.value == {"answer": "서울"}
    assert "한국의 수도는?" in str(model.calls[0][0].content)


def test_reask_on_an_llm_that_returns_text() -> None:
    from llms.fake import FakeLLM

    result = with_reask(FakeLLM(responses=["bad", "[1, 2]"]), JsonParser()).invoke("list?")
    assert (result.value, result.attempts) == ([1, 2], 2)


def test_custom_reask_message_and_bad_settings() -> None:
    model = FakeChatModel(responses=["x", "{}"])
    with_reask(model, JsonParser(), reask_message="고쳐 주세요: {error}").invoke("q")
    assert str(model.calls[1][-1].content) == "고쳐 주세요: no JSON object or array found"
    with pytest.raises(ValueError):
        with_reask(model, JsonParser(), max_attempts=0)
    with pytest.raises(TypeError, match="re-ask input must be"):
        with_reask(model, JsonParser()).invoke(42)


def test_async_reask() -> None:
    model = FakeChatModel(responses=["oops", '{"answer": 4}'])
    result = asyncio.run(with_reask(model, JsonParser()).ainvoke("2+2?"))
    assert (result.value, result.attempts) == ({"answer": 4}, 2)


def test_gives_up_on_schema_errors_with_the_schema_error() -> None:
    class Answer(BaseModel):
        answer: int

    model = FakeChatModel(responses=['{"answer": "x"}'])
    with pytest.raises(SchemaValidationError) as info:
        with_reask(model, JsonParser(schema=Answer), max_attempts=2).invoke("q")
    assert info.value.attempts == 2
    assert info.value.paths == ["answer"]

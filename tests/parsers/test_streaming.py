"""JsonParser as a Runnable: `|` with a model, token-by-token streaming of partial objects, strict end."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterator

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk
from pydantic import BaseModel

from llms.fake import FakeChatModel
from parsers import JsonParser, OutputParseError, TruncatedOutputError

ANSWER = {"movies": ["괴물", "Alien", "Heat"], "count": 3, "nested": {"ok": True, "q": 'say "hi"'}}
TEXT = "Here you go:\n```json\n" + json.dumps(ANSWER, ensure_ascii=False) + "\n```\nEnjoy!"


def chars(text: str) -> Iterator[str]:
    yield from text  # one "token" per character: the harshest streaming case


def test_token_by_token_stream_yields_growing_partials_then_the_value() -> None:
    outputs = list(JsonParser().transform(chars(TEXT)))
    assert outputs[-1] == ANSWER
    assert len(outputs) > 10
    for earlier, later in itertools.pairwise(outputs):
        assert isinstance(earlier, dict)
        assert set(earlier) <= set(later)  # keys only ever appear, never vanish
    assert {"movies": ["괴물"]} in outputs or {"movies": ["괴물", ""]} in outputs


def test_model_pipe_parser_streams_and_invokes() -> None:
    model = FakeChatModel(responses=[TEXT])
    chain = model | JsonParser()
    streamed = list(chain.stream("recommend"))
    assert streamed[-1] == ANSWER
    assert len(streamed) > 3
    assert chain.invoke("again") == ANSWER


def test_cut_off_stream_yields_partials_then_raises() -> None:
    seen = []
    with pytest.raises(TruncatedOutputError):
        for value in JsonParser().transform(chars('{"genres": ["sci-fi", "dra')):
            seen.append(value)
    assert seen[-1] == {"genres": ["sci-fi", "dra"]}


def test_non_strict_stream_ends_on_the_closed_value() -> None:
    outputs = list(JsonParser(strict=False).transform(chars('{"genres": ["sci-fi"')))
    assert outputs[-1] == {"genres": ["sci-fi"]}


def test_stream_stopped_for_length_raises_in_strict_mode() -> None:
    model = FakeChatModel(responses=['{"a": 1}'], finish_reason="length")
    with pytest.raises(TruncatedOutputError, match="finish_reason=length"):
        list((model | JsonParser()).stream("q"))
    with pytest.raises(TruncatedOutputError, match="finish_reason=length"):
        (model | JsonParser()).invoke("q")


def test_ai_message_input_with_length_finish_reason() -> None:
    msg = AIMessage(content='{"a": 1}', response_metadata={"finish_reason": "length"})
    with pytest.raises(TruncatedOutputError):
        JsonParser().invoke(msg)
    assert JsonParser(strict=False).invoke(msg) == {"a": 1}


def test_echoed_prompt_is_not_streamed_as_a_partial() -> None:
    prompt = 'Answer like {"answer": 0}. What is 2+2?'
    outputs = list(JsonParser(prompt=prompt).transform(chars(prompt + ' {"answer": 4}')))
    assert outputs == [{}, {"answer": 4}]


def test_schema_streams_only_the_validated_object() -> None:
    class Pick(BaseModel):
        movies: list[str]
        count: int
        nested: dict[str, object]

    outputs = list(JsonParser(schema=Pick).transform(chars(TEXT)))
    assert len(outputs) == 1
    assert isinstance(outputs[0], Pick)
    assert outputs[0].movies[0] == "괴물"


def test_empty_stream_is_a_parse_error() -> None:
    with pytest.raises(OutputParseError, match="no JSON"):
        list(JsonParser().transform(iter([])))


def test_message_chunks_stream_too() -> None:
    chunks = [AIMessageChunk(content=c) for c in '{"a": [1, 22]}']
    outputs = list(JsonParser().transform(iter(chunks)))
    assert outputs[-1] == {"a": [1, 22]}
    assert {"a": [1, 2]} in outputs


def test_async_stream() -> None:
    async def run() -> list[object]:
        return [v async for v in (FakeChatModel(responses=[TEXT]) | JsonParser()).astream("q")]

    assert asyncio.run(run())[-1] == ANSWER


def test_parser_options_and_format_instructions() -> None:
    class Answer(BaseModel):
        answer: int

    parser = JsonParser(schema=Answer, strict=False, repair=True)
    assert parser.schema_ is Answer
    assert parser.invoke("{'answer': 4,}") == Answer(answer=4)
    assert '"answer"' in parser.get_format_instructions()
    assert JsonParser().parse('x {"a": 1} y') == {"a": 1}

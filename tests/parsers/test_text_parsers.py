"""The call-info parser: with finish reason, token usage and model name."""

from __future__ import annotations

from langchain_core.messages import AIMessage
from langchain_core.outputs import Generation

from llms.fake import FakeChatModel
from parsers import CallInfo, CallInfoParser


def test_call_info_from_a_chat_model() -> None:
    info = (FakeChatModel(responses=["one two three"], model_name="tiny") | CallInfoParser()).invoke("a b")
    assert info == CallInfo(
        text="one two three",
        finish_reason="stop",
        input_tokens=2,
        output_tokens=3,
        total_tokens=5,
        model_name="tiny",
    )


def test_call_info_reports_truncation() -> None:
    info = (FakeChatModel(responses=["cut"], finish_reason="length") | CallInfoParser()).invoke("q")
    assert info.finish_reason == "length"


def test_call_info_reads_openai_style_metadata() -> None:
    msg = AIMessage(
        content="hi",
        response_metadata={
            "finish_reason": "stop",
            "model": "gpt-x",
            "token_usage": {"prompt_tokens": 7, "completion_tokens": 2},
        },
    )
    info = CallInfoParser().invoke(msg)
    assert (info.input_tokens, info.output_tokens, info.total_tokens, info.model_name) == (7, 2, 9, "gpt-x")


def test_call_info_from_plain_text_and_llm_generations() -> None:
    assert CallInfoParser().invoke("just text") == CallInfo(text="just text")
    gen = Generation(text="t", generation_info={"finish_reason": "length"})
    assert CallInfoParser().parse_result([gen]).finish_reason == "length"


def test_call_info_streamed_keeps_the_final_metadata() -> None:
    chunks = list((FakeChatModel(responses=["a b c"], model_name="m") | CallInfoParser()).stream("q"))
    assert chunks[-1].text == "a b c"
    assert chunks[-1].finish_reason == "stop"
    assert chunks[-1].model_name == "m"

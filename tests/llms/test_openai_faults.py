"""Every server fault gives a typed, one-line error naming the URL; retries happen once, in the SDK, bounded.

Uses `FaultServer` (a stdlib HTTP server on 127.0.0.1) for faults the real server cannot produce on demand.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel

from llms.openai_backend import openai_chat, openai_llm, structured_openai
from llms.openai_errors import (
    BackendAuthError,
    BackendError,
    BackendRateLimitError,
    BackendRequestError,
    BackendResponseError,
    BackendServerError,
    BackendTimeoutError,
    BackendUnreachableError,
)
from llms.options import ModelOptions
from parsers import JsonParser, OutputParseError, TruncatedOutputError
from tests.llms.openai_server import FaultServer, Reply, chat_body, completion_body, free_port, sse_chat_body

pytestmark = pytest.mark.usefixtures("no_openai_env")

SECRET = "sk-test-SECRET-4242"


def chat(srv: FaultServer, **options: Any) -> Any:
    options = {"max_new_tokens": 8, "api_key": SECRET, **options}
    return openai_chat("m", ModelOptions(base_url=srv.base_url, **options))


def assert_one_line(err: BaseException, *parts: str) -> None:
    text = str(err)
    assert "\n" not in text
    assert SECRET not in text
    for part in parts:
        assert part in text, f"{part!r} not in {text!r}"


def test_connection_refused_names_the_url() -> None:
    port = free_port()  # nothing listens there now
    model = openai_chat("m", ModelOptions(base_url=f"http://127.0.0.1:{port}/v1", max_new_tokens=4))
    with pytest.raises(BackendUnreachableError) as info:
        model.invoke("hi")
    assert_one_line(info.value, f"http://127.0.0.1:{port}/v1", "--base-url")
    assert info.value.status is None
    assert isinstance(info.value, ConnectionError)


def test_401_is_never_retried_and_hides_the_key() -> None:
    reply = Reply(401, {"error": {"message": f"Incorrect API key provided: {SECRET}"}})
    with FaultServer(reply) as srv:
        with pytest.raises(BackendAuthError) as info:
            chat(srv).invoke("hi")
    assert_one_line(info.value, srv.base_url, "HTTP 401", "OPENAI_API_KEY")
    assert info.value.status == 401
    assert len(srv.requests) == 1


def test_403_on_stream_is_an_auth_error_too() -> None:
    with FaultServer(Reply(403, {"error": {"message": "no access"}})) as srv:
        with pytest.raises(BackendAuthError) as info:
            list(chat(srv).stream("hi"))
    assert_one_line(info.value, srv.base_url, "HTTP 403")
    assert len(srv.requests) == 1


def test_429_is_retried_twice_honouring_retry_after_then_typed() -> None:
    reply = Reply(429, {"error": {"message": "slow down"}}, headers={"retry-after": "0.1"})
    with FaultServer(reply) as srv:
        with pytest.raises(BackendRateLimitError) as info:
            chat(srv).invoke("hi")
    assert len(srv.requests) == 3  # the SDK's 2 retries, no other layer
    assert all(b - a >= 0.09 for a, b in zip(srv.times, srv.times[1:], strict=False))
    assert_one_line(info.value, srv.base_url, "HTTP 429", "3 attempts", "slow down", "0.1 s")
    assert info.value.retry_after == pytest.approx(0.1)


def test_429_with_max_retries_0_is_one_request_and_async_is_typed() -> None:
    reply = Reply(429, {"error": {"message": "slow down"}}, headers={"retry-after": "0.1"})
    with FaultServer(reply) as srv:
        with pytest.raises(BackendRateLimitError) as info:
            asyncio.run(chat(srv, max_retries=0).ainvoke("hi"))
    assert len(srv.requests) == 1
    assert_one_line(info.value, "after 1 attempt:")


def test_retry_after_beyond_the_sdks_cap_is_not_waited_for() -> None:
    reply = Reply(429, {"error": {"message": "come back tomorrow"}}, headers={"retry-after": "300"})
    with FaultServer(reply) as srv:
        with pytest.raises(BackendRateLimitError) as info:
            chat(srv).invoke("hi")
    assert len(srv.requests) == 1  # the SDK does not retry when asked to wait more than 120 s
    assert info.value.retry_after == 300
    assert_one_line(info.value, "300 s")


def test_500_is_retried_then_a_server_error_with_the_servers_reason() -> None:
    reply = Reply(500, {"detail": "CUDA out of memory"}, headers={"retry-after-ms": "10"})
    with FaultServer(reply) as srv:
        with pytest.raises(BackendServerError) as info:
            chat(srv).invoke("hi")
    assert len(srv.requests) == 3
    assert_one_line(info.value, srv.base_url, "HTTP 500", "CUDA out of memory")


def test_500_then_success_recovers_inside_the_sdk() -> None:
    replies = [Reply(500, "oops", "text/plain", headers={"retry-after-ms": "10"}), Reply(200, chat_body("fine"))]
    with FaultServer(replies) as srv:
        assert chat(srv).invoke("hi").content == "fine"
    assert len(srv.requests) == 2


@pytest.mark.parametrize(("status", "hint"), [(400, "options"), (404, "model name"), (422, "options")])
def test_other_4xx_are_request_errors_never_retried(status: int, hint: str) -> None:
    body = {"detail": f"Server is pinned to /x; key {SECRET}"}
    with FaultServer(Reply(status, body)) as srv:
        with pytest.raises(BackendRequestError) as info:
            chat(srv).invoke("hi")
    assert len(srv.requests) == 1
    assert_one_line(info.value, srv.base_url, f"HTTP {status}", "pinned to /x", hint, "***")


def test_read_timeout_names_timeout_and_url() -> None:
    with FaultServer(Reply(200, chat_body("late"), delay=1.0)) as srv:
        with pytest.raises(BackendTimeoutError) as info:
            chat(srv, timeout=0.3, max_retries=1).invoke("hi")
    assert not isinstance(info.value, BackendUnreachableError)  # the server is there: no fallback for this
    assert len(srv.requests) == 2
    assert_one_line(info.value, srv.base_url, "0.3 s", "timeout")


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (Reply(200, "<!DOCTYPE html><html><body>Login</body></html>", "text/html"), "HTML page"),
        (Reply(200, b""), "not JSON"),
        (Reply(200, "{not json", "application/json"), "not JSON"),
        (Reply(200, {"id": "x", "object": "chat.completion", "choices": []}), "no choices"),
        (Reply(200, chat_body(None)), "no content"),
    ],
)
def test_bad_200_bodies_are_response_errors(reply: Reply, words: str) -> None:
    with FaultServer(reply) as srv:
        with pytest.raises(BackendResponseError) as info:
            chat(srv).invoke("hi")
    assert len(srv.requests) == 1
    assert_one_line(info.value, srv.base_url, words)


def test_html_on_stream_and_on_async_are_response_errors() -> None:
    html = Reply(200, "<html><body>proxy login</body></html>", "text/html")
    with FaultServer(html) as srv:
        with pytest.raises(BackendResponseError, match="no stream events"):
            list(chat(srv).stream("hi"))
        with pytest.raises(BackendResponseError, match="HTML page"):
            asyncio.run(chat(srv).ainvoke("hi"))
        results = chat(srv).batch(["a", "b"], return_exceptions=True)
    assert all(isinstance(r, BackendResponseError) for r in results)


def test_empty_string_content_is_a_valid_answer() -> None:
    # A model may really answer "" (e.g. an immediate end-of-text); only a missing content is a server fault.
    with FaultServer(Reply(200, chat_body(""))) as srv:
        answer = chat(srv).invoke("hi")
    assert answer.content == ""
    assert answer.response_metadata["finish_reason"] == "stop"


def test_length_finish_reason_reaches_the_parsers() -> None:
    with FaultServer(Reply(200, chat_body('{"genres": ["sci-fi"', finish_reason="length"))) as srv:
        answer = chat(srv).invoke("JSON please")
        assert answer.response_metadata["finish_reason"] == "length"
        with pytest.raises(TruncatedOutputError):
            (chat(srv) | JsonParser()).invoke("JSON please")
        with pytest.raises(TruncatedOutputError) as info:  # JSON mode: the SDK's LengthFinishReasonError
            structured_openai(chat(srv), method="json_mode").invoke("JSON please")
    assert info.value.raw == '{"genres": ["sci-fi"'
    assert srv.base_url in str(info.value)


def test_non_openai_servers_get_max_tokens_and_stop() -> None:
    with FaultServer(Reply(200, chat_body("ok"))) as srv:
        chat(srv, max_new_tokens=7, stop=["###"]).invoke("hi")
    body = srv.requests[0][1]
    assert body["max_tokens"] == 7
    assert "max_completion_tokens" not in body
    assert body["stop"] == ["###"]


def test_trailing_stop_string_is_trimmed_invoke_and_stream() -> None:
    with FaultServer(Reply(200, chat_body("hello STOP", finish_reason="stop"))) as srv:
        assert chat(srv).invoke("hi", stop=["STOP"]).content == "hello "
    events = sse_chat_body(["hel", "lo S", "T", "OP"])
    with FaultServer(Reply(200, events, "text/event-stream")) as srv:
        pieces = [c.content for c in chat(srv).stream("hi", stop=["STOP"])]
    assert "".join(pieces) == "hello "
    near_miss = sse_chat_body(["hel", "lo S", "T", "OX"])  # held back, then released: nothing lost
    with FaultServer(Reply(200, near_miss, "text/event-stream")) as srv:
        assert "".join(c.content for c in chat(srv).stream("hi", stop=["STOP"])) == "hello STOX"


def test_completions_send_one_string_prompt_per_request() -> None:
    with FaultServer(Reply(200, completion_body("yo"))) as srv:
        llm = openai_llm("m", ModelOptions(base_url=srv.base_url, max_new_tokens=4))
        assert llm.batch(["첫째", "second"]) == ["yo", "yo"]
    prompts = sorted(body["prompt"] for _, body in srv.requests)
    assert prompts == ["second", "첫째"]
    assert all(path == "/v1/completions" for path, _ in srv.requests)


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(401, {"error": {"message": "bad key"}}), BackendAuthError),
        (Reply(200, "<html>", "text/html"), BackendResponseError),
        (Reply(200, {"choices": []}), BackendResponseError),
    ],
)
def test_completions_faults_are_typed(reply: Reply, error: type[BackendError]) -> None:
    with FaultServer(reply) as srv:
        llm = openai_llm("m", ModelOptions(base_url=srv.base_url, max_new_tokens=4))
        with pytest.raises(error) as info:
            llm.invoke("hi")
    assert_one_line(info.value, f"{srv.base_url}/completions")


class Answer(BaseModel):
    answer: int


def test_structured_json_mode_reasks_then_succeeds() -> None:
    replies = [Reply(200, chat_body("Sure! The answer is four.")), Reply(200, chat_body('{"answer": 4}'))]
    with FaultServer(replies) as srv:
        result = structured_openai(chat(srv), Answer).invoke("Reply in JSON: what is 2+2?")
    assert result == Answer(answer=4)
    assert len(srv.requests) == 2
    first, second = (body for _, body in srv.requests)
    assert first["response_format"] == {"type": "json_object"}
    assert len(second["messages"]) == 3  # question, bad answer, re-ask naming the error
    assert "could not be used" in second["messages"][-1]["content"]


def test_structured_prompt_method_gives_up_with_attempt_count() -> None:
    with FaultServer(Reply(200, chat_body("no json here"))) as srv:
        with pytest.raises(OutputParseError) as info:
            structured_openai(chat(srv), Answer, method="prompt", max_attempts=3).invoke("JSON: 2+2?")
    assert info.value.attempts == 3
    assert len(srv.requests) == 3
    assert all("response_format" not in body for _, body in srv.requests)


def test_structured_json_schema_sends_the_schema() -> None:
    with FaultServer(Reply(200, chat_body('{"answer": 4}'))) as srv:
        result = structured_openai(chat(srv), Answer, method="json_schema").invoke("2+2?")
    assert result == Answer(answer=4)
    sent = srv.requests[0][1]["response_format"]
    assert sent["type"] == "json_schema"
    assert sent["json_schema"]["schema"]["properties"]["answer"]["type"] == "integer"


def test_constrained_on_an_openai_server_uses_json_mode_schema_prompt_and_reask() -> None:
    """`llms.structured.constrained` (what json_qa and movie night use) on the OpenAI path."""
    from pydantic import BaseModel

    from llms.structured import constrained

    class Answer(BaseModel):
        answer: str

    replies = [Reply(200, chat_body("I think it is four.")), Reply(200, chat_body('{"answer": "4"}'))]
    with FaultServer(replies) as srv:
        result = constrained(chat(srv), Answer, max_attempts=2).invoke("What is 2+2?")
        bodies = [body for _, body in srv.requests]
    assert result == Answer(answer="4")
    assert len(bodies) == 2
    assert all(body["response_format"] == {"type": "json_object"} for body in bodies)
    assert "answer" in bodies[0]["messages"][0]["content"]  # the schema, in the system message
    assert bodies[1]["messages"][-1]["role"] == "user" and len(bodies[1]["messages"]) > len(bodies[0]["messages"])

"""Every server fault gives a typed, one-line error naming the URL; retries happen once, in the SDK, bounded.

Uses `FaultServer` (a stdlib HTTP server on 127.0.0.1) for faults the real server cannot produce on demand.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import pytest
from pydantic import BaseModel

from llms import redact
from llms.openai_backend import openai_chat, openai_llm
from llms.openai_errors import (
    BackendAuthError,
    BackendConfigError,
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
from tests.llms.openai_server import (
    FaultServer,
    Reply,
    Request,
    chat_body,
    completion_body,
    echo_headers,
    free_port,
    sse_chat_body,
)

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
        started = time.monotonic()
        with pytest.raises(BackendTimeoutError) as info:
            chat(srv, timeout=0.3, max_retries=1).invoke("hi")
        elapsed = time.monotonic() - started
    assert not isinstance(info.value, BackendUnreachableError)  # the server is there: no fallback for this
    assert len(srv.requests) == 1  # `timeout` is the whole request: no time was left for the retry
    assert 0.3 <= elapsed < 1.5  # headroom for a busy machine; the point is one request
    assert_one_line(info.value, srv.base_url, "0.3 s", "timeout")


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (Reply(200, "<!DOCTYPE html><html><body>Login</body></html>", "text/html"), "HTML page"),
        (Reply(200, b""), "empty body"),
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
        with pytest.raises(BackendResponseError, match=r"streaming call .* HTML page instead of events"):
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
            chat(srv).with_structured_output(None, method="json_mode", max_attempts=1).invoke("JSON please")
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


# --- secrets: nothing a server echoes back, and nothing in the base URL, reaches the user ---------------------

ECHO_HTML = echo_headers("<html><head><title>Bad gateway</title></head><pre>{headers}</pre></html>", as_json=None)


def _sse_error_echo(request: Request) -> str:
    message = f"upstream failed; you sent {request.headers.get('authorization', '')}"
    return f"data: {json.dumps({'error': {'message': message, 'headers': request.headers}})}\n\n"


def assert_no_key(text: str) -> None:
    """Neither the key, nor a piece of it, nor its HTTP Basic form."""
    assert SECRET not in text and "SECRET-4242" not in text, text
    assert base64.b64encode(f"user:{SECRET}".encode()).decode() not in text, text


@pytest.mark.parametrize(
    "reply",
    [
        Reply(400, echo_headers("bad request; you sent {auth}")),
        Reply(401, echo_headers("Incorrect API key provided: {auth}")),
        Reply(404, echo_headers("no such model; headers: {headers}")),
        Reply(422, echo_headers("{headers}")),
        Reply(429, echo_headers("slow down, {auth}"), headers={"retry-after-ms": "1"}),
        Reply(500, echo_headers("boom {auth}"), headers={"retry-after-ms": "1"}),
        Reply(502, ECHO_HTML, "text/html", headers={"retry-after-ms": "1"}),
        Reply(200, ECHO_HTML, "text/html"),
        Reply(200, echo_headers("overloaded, {auth}")),
    ],
    ids=["400", "401", "404", "422", "429", "500", "502-html", "200-html", "200-error"],
)
def test_an_echoed_key_is_masked_in_the_error_and_in_the_debug_traceback(reply: Reply) -> None:
    with FaultServer(reply) as srv:
        with pytest.raises(BackendError) as info:
            chat(srv, max_retries=1).invoke("hi")
    assert srv.received[0].headers["authorization"] == f"Bearer {SECRET}"  # the server did get (and echo) it
    assert_one_line(info.value, srv.base_url)
    assert_no_key(redact.format_exception(info.value))  # what --debug prints, the SDK's own errors included


def test_an_error_event_in_a_stream_echoing_the_key_is_one_masked_line() -> None:
    with FaultServer(Reply(200, _sse_error_echo, "text/event-stream")) as srv:
        with pytest.raises(BackendResponseError) as info:
            list(chat(srv).stream("hi"))
        with pytest.raises(BackendResponseError) as async_info:
            asyncio.run(_alist(chat(srv).astream("hi")))
    for err in (info.value, async_info.value):
        assert_one_line(err, srv.base_url, "upstream failed", "Bearer ***")
        assert_no_key(redact.format_exception(err))


async def _alist(chunks: Any) -> list[Any]:
    return [chunk async for chunk in chunks]


def test_a_key_in_the_base_urls_userinfo_is_never_printed() -> None:
    with FaultServer(Reply(401, echo_headers("denied: {auth}"))) as srv:
        url = srv.base_url.replace("http://", f"http://user:{SECRET}@")
        model = openai_chat("m", ModelOptions(base_url=url, max_new_tokens=4))
        with pytest.raises(BackendAuthError) as info:
            model.invoke("hi")
    sent = srv.received[0].headers["authorization"]
    assert sent == "Basic " + base64.b64encode(f"user:{SECRET}".encode()).decode()  # still sent, as before
    assert model.openai_api_base == srv.base_url  # what fallback notes and capabilities print
    assert_no_key(str(info.value) + redact.format_exception(info.value) + repr(model))
    with pytest.raises(BackendAuthError) as no_key:  # api.openai.com without OPENAI_API_KEY
        openai_chat("m", ModelOptions(base_url=f"https://user:{SECRET}@api.openai.com/v1"))
    assert_no_key(str(no_key.value))
    with pytest.raises(BackendConfigError) as bad:
        openai_chat("m", ModelOptions(base_url=f"ftp://user:{SECRET}@host/v1"))
    assert_no_key(str(bad.value))


def test_a_key_in_the_base_urls_query_is_sent_on_every_request_and_never_printed() -> None:
    with FaultServer(Reply(401, {"error": {"message": "no"}})) as srv:
        model = openai_chat("m", ModelOptions(base_url=f"{srv.base_url}?key={SECRET}", max_new_tokens=4))
        with pytest.raises(BackendAuthError) as info:
            model.invoke("hi")
    assert srv.received[0].path == f"/v1/chat/completions?key={SECRET}"  # was /v1/?key=...chat/completions
    assert_no_key(str(info.value) + redact.format_exception(info.value) + str(model.openai_api_base))


@pytest.mark.parametrize(
    ("reply", "argv"),
    [
        (Reply(400, echo_headers("bad request; you sent {auth}")), ["json-qa", "2+2?"]),
        (Reply(401, echo_headers("Incorrect API key provided: {auth}")), ["json-qa", "What is 2+2?"]),
        (Reply(404, echo_headers("no such model; headers: {headers}")), ["json-qa", "2+2?"]),
        (Reply(422, echo_headers("{headers}")), ["json-qa", "2+2?"]),
        (Reply(429, echo_headers("slow down, {auth}"), headers={"retry-after-ms": "1"}), ["json-qa", "2+2?"]),
        (Reply(500, echo_headers("boom: {headers}"), headers={"retry-after-ms": "1"}), ["json-qa", "2+2?"]),
        (Reply(502, ECHO_HTML, "text/html", headers={"retry-after-ms": "1"}), ["json-qa", "2+2?"]),
        (Reply(200, ECHO_HTML, "text/html"), ["json-qa", "2+2?"]),
        (Reply(200, echo_headers("overloaded, {auth}")), ["json-qa", "2+2?"]),
        (Reply(200, _sse_error_echo, "text/event-stream"), ["perfect-day", "Paris", "--stream"]),
    ],
    ids=["400", "401", "404", "422", "429", "500", "502-html", "200-html", "200-error", "stream-error-event"],
)
@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
def test_the_cli_never_prints_the_key(
    reply: Reply, argv: list[str], debug: bool, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from apps.cli import main

    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with FaultServer(reply) as srv:
        args = ["run", *argv, "--model", "openai:x", "--base-url", srv.base_url, "--max-retries", "1"]
        code = main(args + (["--debug"] if debug else []))
    err = capsys.readouterr().err
    assert code == 1
    assert ("Traceback (most recent call last)" in err) is debug
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and srv.base_url in errors[0], err
    assert_no_key(err)


# --- answers that are not the OpenAI API's: one line with the URL, the status and what came back ---------------

BAD_BODIES = {
    "html": (Reply(200, "<!DOCTYPE html><html><title>Sign in</title><body>proxy</body></html>", "text/html"),
             "HTML page (title 'Sign in')"),
    "sse": (Reply(200, sse_chat_body(["hi"]), "text/event-stream"), "server-sent event stream on a non-streaming"),
    "garbage": (Reply(200, b"\x00\x01 garbage", "application/octet-stream"), "not JSON"),
    "error-json": (Reply(200, {"error": {"message": "model is loading"}}), "an error"),
    "empty": (Reply(200, b""), "an empty body"),
}


def _chat_calls(model: Any) -> dict[str, Any]:
    return {
        "invoke": lambda: model.invoke("hi"),
        "json-mode": lambda: model.bind(response_format={"type": "json_object"}).invoke("hi"),
        "stream": lambda: list(model.stream("hi")),
        "batch": lambda: model.batch(["a", "b"]),
        "ainvoke": lambda: asyncio.run(model.ainvoke("hi")),
        "astream": lambda: asyncio.run(_alist(model.astream("hi"))),
    }


def _llm_calls(model: Any) -> dict[str, Any]:
    return {
        "invoke": lambda: model.invoke("hi"),
        "stream": lambda: list(model.stream("hi")),
        "batch": lambda: model.batch(["a", "b"]),
        "ainvoke": lambda: asyncio.run(model.ainvoke("hi")),
    }


def _bad_body_cases(calls: list[str]) -> list[tuple[str, str]]:
    """(kind, call) pairs, less SSE on streaming calls: events are what a streaming call wants."""
    return [(kind, call) for kind in BAD_BODIES for call in calls if not (kind == "sse" and "stream" in call)]


@pytest.mark.parametrize(
    ("kind", "call"), _bad_body_cases(["invoke", "json-mode", "stream", "batch", "ainvoke", "astream"])
)
def test_every_non_openai_body_is_one_line_naming_url_status_and_what_came_back(kind: str, call: str) -> None:
    reply, words = BAD_BODIES[kind]
    with FaultServer(reply) as srv:
        with pytest.raises(BackendResponseError) as info:
            _chat_calls(chat(srv))[call]()
    assert_one_line(info.value, f"{srv.base_url}/chat/completions", "HTTP 200", words)
    # A server's own error says to read its log; every other wrong body points at the base URL.
    assert ("is --base-url right? It usually ends in /v1" in str(info.value)) is (kind != "error-json")
    assert len(srv.requests) == (2 if call == "batch" else 1)  # never retried


@pytest.mark.parametrize(("kind", "call"), _bad_body_cases(["invoke", "stream", "batch", "ainvoke"]))
def test_every_non_openai_body_on_completions_is_one_line_too(kind: str, call: str) -> None:
    reply, words = BAD_BODIES[kind]
    with FaultServer(reply) as srv:
        llm = openai_llm("m", ModelOptions(base_url=srv.base_url, max_new_tokens=4, api_key=SECRET))
        with pytest.raises(BackendResponseError) as info:
            _llm_calls(llm)[call]()
    assert_one_line(info.value, f"{srv.base_url}/completions", "HTTP 200", words)


def test_a_good_body_with_a_wrong_content_type_still_works() -> None:
    # The SDK parses JSON whatever the content type says; so do we, and we do not stand in the way of SSE either.
    with FaultServer(Reply(200, json.dumps(chat_body("fine")), "text/plain")) as srv:
        assert chat(srv).invoke("hi").content == "fine"
    with FaultServer(Reply(200, "\n" + sse_chat_body(["o", "k"]), "text/plain")) as srv:
        assert "".join(str(c.content) for c in chat(srv).stream("hi")) == "ok"


# --- one deadline for the whole request -------------------------------------------------------------------------

DRIP_S = 0.05  # per byte: a ~250-byte answer takes ~12 s, far past the 1 s deadline


def _dripping(stream: bool, *, headers_too: bool = False, completions: bool = False) -> Reply:
    if stream:
        body: str = sse_chat_body(["a"] * 20)
        return Reply(200, body, "text/event-stream", drip=DRIP_S, drip_headers=headers_too)
    data = completion_body("late") if completions else chat_body("late")
    return Reply(200, json.dumps(data), drip=DRIP_S, drip_headers=headers_too)


def _timed(call: Any) -> tuple[BaseException, float]:
    started = time.monotonic()
    with pytest.raises(BackendTimeoutError) as info:
        call()
    return info.value, time.monotonic() - started


@pytest.mark.parametrize(
    ("call", "stream", "headers_too"),
    [
        ("invoke", False, False),
        ("invoke", False, True),
        ("stream", True, False),
        ("stream", True, True),
        ("ainvoke", False, False),
        ("ainvoke", False, True),
        ("astream", True, False),
        ("batch", False, False),
    ],
)
def test_a_dripping_server_is_cut_at_the_deadline(call: str, stream: bool, headers_too: bool) -> None:
    with FaultServer(_dripping(stream, headers_too=headers_too)) as srv:
        err, elapsed = _timed(_chat_calls(chat(srv, timeout=1.0))[call])
    assert 1.0 <= elapsed < 2.5, elapsed  # without the deadline: ~12 s (~115 s streaming), or a success
    assert not isinstance(err, BackendUnreachableError)  # it answered: no fallback
    assert_one_line(err, f"{srv.base_url}/chat/completions", "1 s timeout", "whole request")
    assert len(srv.requests) == (2 if call == "batch" else 1)  # no retry after the deadline


@pytest.mark.parametrize("call", ["invoke", "stream", "ainvoke"])
def test_a_dripping_server_is_cut_at_the_deadline_on_completions(call: str) -> None:
    reply = _dripping(call == "stream", completions=True)
    with FaultServer(reply) as srv:
        llm = openai_llm("m", ModelOptions(base_url=srv.base_url, max_new_tokens=4, timeout=1.0))
        err, elapsed = _timed(_llm_calls(llm)[call])
    assert 1.0 <= elapsed < 2.5, elapsed
    assert_one_line(err, f"{srv.base_url}/completions", "1 s timeout")


def test_the_deadline_covers_the_sdks_retries() -> None:
    # 429 asking for 5 s: the SDK would sleep 5 s and retry twice (10 s); with 1 s left it must not wait at all.
    reply = Reply(429, {"error": {"message": "slow down"}}, headers={"retry-after": "5"})
    with FaultServer(reply) as srv:
        started = time.monotonic()
        with pytest.raises(BackendRateLimitError) as info:
            chat(srv, timeout=1.0).invoke("hi")
        elapsed = time.monotonic() - started
    assert elapsed < 1.5 and len(srv.requests) == 1  # not 10 s and 3 requests
    assert info.value.retry_after == 5
    # A quick failure is still retried while there is time: 500s with a short retry-after, 3 attempts.
    with FaultServer(Reply(500, {"detail": "busy"}, headers={"retry-after-ms": "50"})) as srv:
        with pytest.raises(BackendServerError):
            chat(srv, timeout=5.0).invoke("hi")
    assert len(srv.requests) == 3


def test_a_silent_server_is_cut_once_at_the_deadline_not_once_per_attempt() -> None:
    with FaultServer(Reply(200, chat_body("late"), delay=3.0)) as srv:
        err, elapsed = _timed(lambda: chat(srv, timeout=0.5, max_retries=2).invoke("hi"))
    assert 0.5 <= elapsed < 2.0 and len(srv.requests) == 1  # not 3 x 0.5 s + backoff
    assert_one_line(err, "0.5 s timeout")


def test_the_cli_timeout_bounds_json_qa_against_a_dripping_server(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from apps.cli import main

    with FaultServer(_dripping(False)) as srv:
        started = time.monotonic()
        code = main(["run", "json-qa", "What is 2+2?", "--model", "openai:x", "--base-url", srv.base_url,
                     "--timeout", "1"])
        elapsed = time.monotonic() - started
    err = capsys.readouterr().err
    assert code == 1 and elapsed < 4.0, (elapsed, err)  # not ~12 s and a success
    assert f"error: no complete answer from {srv.base_url}/chat/completions within the 1 s timeout" in err


class Answer(BaseModel):
    answer: int


def test_structured_json_mode_reasks_then_succeeds() -> None:
    replies = [Reply(200, chat_body("Sure! The answer is four.")), Reply(200, chat_body('{"answer": 4}'))]
    with FaultServer(replies) as srv:
        result = chat(srv).with_structured_output(Answer, method="json_mode").invoke("Reply in JSON: what is 2+2?")
    assert result == Answer(answer=4)
    assert len(srv.requests) == 2
    first, second = (body for _, body in srv.requests)
    assert first["response_format"] == {"type": "json_object"}
    assert len(second["messages"]) == 4  # format instructions, question, bad answer, re-ask naming the error
    assert "could not be used" in second["messages"][-1]["content"]


def test_structured_output_gives_up_with_attempt_count() -> None:
    with FaultServer(Reply(200, chat_body("no json here"))) as srv:
        with pytest.raises(OutputParseError) as info:
            chat(srv).with_structured_output(Answer, method="json_mode", max_attempts=3).invoke("JSON: 2+2?")
    assert info.value.attempts == 3  # a bounded re-ask
    assert len(srv.requests) == 3
    assert all(body["response_format"] == {"type": "json_object"} for _, body in srv.requests)


def test_structured_json_schema_sends_the_schema() -> None:
    with FaultServer(Reply(200, chat_body('{"answer": 4}'))) as srv:
        result = chat(srv).with_structured_output(Answer).invoke("2+2?")  # method="json_schema", the default
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
    assert all(body["response_format"]["type"] == "json_schema" for body in bodies)
    assert "answer" in bodies[0]["messages"][0]["content"]  # the schema, in the system message too
    assert bodies[1]["messages"][-1]["role"] == "user" and len(bodies[1]["messages"]) > len(bodies[0]["messages"])

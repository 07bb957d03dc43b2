"""`llms.redact`: the one layer every user-visible message and the --debug traceback pass through."""

from __future__ import annotations

import argparse
import base64
import doctest
import importlib
from typing import Any

import openai
import pytest

from llms import redact as redact_module
from llms.openai_errors import one_line
from llms.openai_translate import backend_error
from llms.redact import env_secrets, format_exception, known_secrets, redact, request_secrets, secrets_of

KEY = "sk-proj-Zx81-SECRET-4242abcd"
# The SDK's own httpx flavour (httpx2 for openai>=3, httpx before), whose Request/Response its errors take.
httpx: Any = importlib.import_module(
    next(c for c in openai.DefaultAsyncHttpxClient.__mro__ if c.__name__ == "AsyncClient").__module__.partition(".")[0]
)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("Authorization: Bearer abc.DEF-123_x", "Authorization: Bearer ***"),
        ('{"authorization": "Bearer tok-12345"}', '{"authorization": "Bearer ***"}'),
        ("{'Authorization': 'Basic dXNlcjpwdw=='}", "{'Authorization': 'Basic ***'}"),
        ("proxy-authorization: Basic dXNlcjpwdw==", "proxy-authorization: Basic ***"),
        ("api-key: 0123abcd", "api-key: ***"),
        ("X-Api-Key=0123abcd; next", "X-Api-Key=***; next"),
        ("OPENAI_API_KEY=whatever-it-is", "OPENAI_API_KEY=***"),
        ('{"api_key": "hello1", "model": "m"}', '{"api_key": "***", "model": "m"}'),
        ("GET /v1/x?key=abc&limit=5", "GET /v1/x?key=***&limit=5"),
        ("https://h/v1?api_key=abc#frag", "https://h/v1?api_key=***#frag"),
        ("https://h/v1?x=1&token=abc&access_token=def", "https://h/v1?x=1&token=***&access_token=***"),
        ("see https://user:pw@host:8000/v1 now", "see https://***@host:8000/v1 now"),
        ("see http://sk-onlyuser@host/v1", "see http://***@host/v1"),
        ("echo: sk-abcdef123456 and sk-proj-ABC_def-123", "echo: sk-*** and sk-***"),
        ("hf_abcdefghijklmnopqrstuvwx", "hf_***"),
        ("password: hunter2!", "password: ***"),
    ],
)
def test_patterns_mask_secrets_wherever_they_appear(text: str, masked: str) -> None:
    assert redact(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "max_tokens=5 completion_tokens: 3 tokens: 4 prompt_tokens=2",
        "http://127.0.0.1:8000/v1/chat/completions rejected the request (HTTP 400): check OPENAI_API_KEY",
        "basic instructions; bearer of news",
        "the answer is {'answer': 4}",
        "한국어 답변: 서울",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_a_literal_secret_is_masked_anywhere_also_url_quoted() -> None:
    secret = "p@ss word/42"
    assert redact(f"x{secret}y and p%40ss%20word%2F42", [secret]) == "x***y and ***"
    assert redact("a b c", ["", None, "ab"]) == "a b c"  # empty and too-short "secrets" mask nothing


def test_one_line_masks_before_cutting_so_no_piece_of_a_key_shows() -> None:
    text = "x" * 150 + " " + KEY
    line = one_line(text, KEY, limit=160)
    assert "sk-proj" not in line and "Zx81" not in line
    assert len(line) <= 160


def test_secrets_of_reads_the_failing_requests_headers_and_url() -> None:
    basic = base64.b64encode(b"user:pa55-word").decode()
    request = httpx.Request(
        "POST",
        "http://u:urlpass@127.0.0.1:9/v1/chat/completions?key=q-secret&x=1",
        headers={"Authorization": f"Bearer {KEY}", "Proxy-Authorization": f"Basic {basic}", "api-key": "hdr-key"},
    )
    found = set(request_secrets(request))
    assert {KEY, basic, "pa55-word", "user:pa55-word", "hdr-key", "urlpass", "q-secret"} <= found
    inner = openai.APIConnectionError(request=request)
    outer = RuntimeError("wrapped")
    outer.__cause__ = inner
    assert KEY in secrets_of(outer) and "urlpass" in secrets_of(outer)


def test_env_secrets_are_the_secret_named_variables() -> None:
    env = {"OPENAI_API_KEY": "sk-env-1234", "HF_TOKEN": "hf_token_value", "TOKENIZERS_PARALLELISM": "false",
           "MY_SECRET": "s3cr3t!", "PATH": "/usr/bin", "EMPTY_TOKEN": ""}
    assert sorted(env_secrets(env)) == ["hf_token_value", "s3cr3t!", "sk-env-1234"]


def test_format_exception_masks_the_whole_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "plain-env-key-77")
    try:
        try:
            raise ValueError("server said: you sent plain-env-key-77 and Authorization: Bearer xyz123456")
        except ValueError as cause:
            raise RuntimeError("while calling https://user:pw@host/v1") from cause
    except RuntimeError as exc:
        text = format_exception(exc)
    assert "Traceback (most recent call last)" in text and "ValueError" in text and "RuntimeError" in text
    assert "plain-env-key-77" not in text and "xyz123456" not in text and "user:pw" not in text


def test_backend_error_masks_the_key_the_request_carried_even_if_not_told() -> None:
    # A key the caller did not pass (e.g. from a custom header) is still masked: it is in the request.
    request = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions", headers={"api-key": "tenant-77-key"})
    response = httpx.Response(400, request=request, json={"detail": "bad key tenant-77-key"})
    err = openai.BadRequestError("bad", response=response, body={"detail": "bad key tenant-77-key"})
    typed = backend_error(err, "http://127.0.0.1:9/v1")
    assert typed is not None and "tenant-77-key" not in str(typed) and "bad key ***" in str(typed)


def test_a_stream_error_event_is_typed_and_masked() -> None:
    url = "http://127.0.0.1:9/v1/chat/completions"
    request = httpx.Request("POST", url, headers={"Authorization": f"Bearer {KEY}"})
    err = openai.APIError(f"upstream: Bearer {KEY}", request=request, body={"message": f"upstream: Bearer {KEY}"})
    typed = backend_error(err, "http://127.0.0.1:9/v1/chat/completions")
    assert typed is not None and type(typed).__name__ == "BackendResponseError"
    assert str(typed).startswith("http://127.0.0.1:9/v1/chat/completions sent an error in its answer: upstream")
    assert KEY not in str(typed)


def test_app_main_masks_the_one_line_and_the_debug_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from apps.common import app_main

    monkeypatch.setenv("OPENAI_API_KEY", "env-key-for-app-main")
    request = httpx.Request("POST", "http://h/v1/chat/completions", headers={"Authorization": "Bearer req-key-9999"})

    def run(args: argparse.Namespace) -> int:
        try:
            raise openai.APIConnectionError(request=request)
        except openai.APIConnectionError as exc:
            raise KeyError("env-key-for-app-main req-key-9999 https://u:pw@h/v1?token=t0k3n") from exc

    parser = argparse.ArgumentParser()
    parser.add_argument("--debug", action="store_true")
    for argv in ([], ["--debug"]):
        assert app_main(run, parser.parse_args(argv)) == 1
        err = capsys.readouterr().err
        assert err.count("error: ") == 1 and ("Traceback" in err) == bool(argv)
        for secret in ("env-key-for-app-main", "req-key-9999", "u:pw", "t0k3n"):
            assert secret not in err, err


def test_known_secrets_combines_env_exception_and_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "the-env-key")
    assert {"the-env-key", "extra-one"} <= set(known_secrets(ValueError("x"), ["extra-one", None]))


def test_the_module_doctests_pass() -> None:
    assert doctest.testmod(redact_module).failed == 0

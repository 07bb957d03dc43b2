"""The openai SDK's exceptions as typed, one-line `llms.openai_errors.BackendError`s, every message redacted.

>>> backend_error(KeyError("not the SDK's"), "http://127.0.0.1:9/v1") is None  # others are left alone
True
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import openai

from llms.openai_deadline import is_named, retry_after_s
from llms.openai_errors import (
    BASE_URL_HINT,
    BackendAuthError,
    BackendConnectTimeoutError,
    BackendError,
    BackendRateLimitError,
    BackendRequestError,
    BackendResponseError,
    BackendServerError,
    BackendTimeoutError,
    BackendUnreachableError,
    Secrets,
    clean_url,
    one_line,
    secret_list,
)
from llms.openai_responses import looks_like_html, server_reason, what_came_back
from llms.redact import redact, secrets_of
from parsers.errors import TruncatedOutputError

__all__ = ["backend_error", "translate_errors"]


def _detail(err: openai.APIStatusError, secret: Secrets) -> str:
    """The server's own reason: OpenAI's ``error.message``, FastAPI's ``detail``, an HTML page's title, or the
    body's text."""
    body: Any = err.body
    if isinstance(body, dict):
        return server_reason(body, secret)
    reason = body if body is not None else err.response.text
    if isinstance(reason, str) and looks_like_html(reason, err.response.headers.get("content-type", "")):
        return what_came_back(reason, "text/html", secret)
    return one_line(str(reason or err.response.reason_phrase or ""), secret)


def _attempts(err: openai.APIStatusError) -> str:
    """ "3 attempts": requests made, from the SDK's own ``x-stainless-retry-count`` header on the last one."""
    try:
        count = int(err.response.request.headers.get("x-stainless-retry-count", "0")) + 1
    except (ValueError, RuntimeError):
        count = 1
    return "1 attempt" if count == 1 else f"{count} attempts"


def _timeout_of(err: openai.APIConnectionError, phase: str) -> str:
    try:
        value = err.request.extensions["timeout"][phase]
    except (AttributeError, KeyError, TypeError):
        return "the configured"
    return f"{value:g} s" if isinstance(value, int | float) else "the configured"


def _root_cause(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None and exc.__cause__ is not exc:
        exc = exc.__cause__
    return exc


def _is_connect_timeout(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if is_named(seen, "ConnectTimeout"):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _status_error(err: openai.APIStatusError, url: str, secret: Secrets) -> BackendError:
    status, detail = err.status_code, _detail(err, secret)
    if status in (401, 403):
        what = "refused the API key" if status == 401 else "denied access"
        return BackendAuthError(f"{url} {what} (HTTP {status}); check OPENAI_API_KEY", url=url, status=status)
    if status == 429:
        retry_after = retry_after_s(err.response.headers)
        wait = f"; the server asks to wait {round(retry_after, 1):g} s" if retry_after is not None else ""
        error = BackendRateLimitError(
            f"{url} is rate-limiting (HTTP 429) after {_attempts(err)}: {detail}{wait}; "
            "retry later or lower the concurrency",
            url=url,
            status=status,
        )
        error.retry_after = retry_after
        return error
    if status >= 500:
        return BackendServerError(
            f"{url} failed with HTTP {status} after {_attempts(err)}: {detail}; check its log",
            url=url,
            status=status,
        )
    hint = "check the model name (openai:<model>)" if status == 404 else "check the model name and options"
    message = f"{url} rejected the request (HTTP {status}): {detail}; {hint}"
    return BackendRequestError(message, url=url, status=status)


def _truncated(err: openai.LengthFinishReasonError, url: str) -> Exception:
    """finish_reason=length on a JSON-mode or json_schema answer: the parsers' TruncatedOutputError."""
    choices = getattr(err.completion, "choices", None) or []
    raw = (choices[0].message.content or "") if choices else ""
    return TruncatedOutputError(
        f"{url} stopped the answer at the token limit (finish_reason=length); raise max_new_tokens",
        raw=raw,
        finish_reason="length",
    )


def backend_error(exc: BaseException, url: str, *, secret: Secrets = None) -> Exception | None:
    """The typed error for an openai SDK (or response-shape) failure at `url`, or None if it is not one.

    `url` is the endpoint we called; the failing request's own URL wins when the SDK has it. `secret`: the
    API key (or several secrets); the key the failing request carried is masked too.
    """
    if isinstance(exc, BackendError):
        return exc
    secrets = [*secret_list(secret), *secrets_of(exc)]
    typed = _typed(exc, url, secrets)
    if typed is not None and typed is not exc and typed.args:
        typed.args = (redact(str(typed.args[0]), secrets), *typed.args[1:])  # belt and braces: every message
    return typed


def _typed(exc: BaseException, url: str, secret: list[str | None]) -> Exception | None:
    request = getattr(exc, "request", None)
    if request is not None and getattr(request, "url", None) is not None:
        url = clean_url(request.url)
    if isinstance(exc, openai.APITimeoutError):
        if _is_connect_timeout(exc):
            return BackendConnectTimeoutError(
                f"timed out after {_timeout_of(exc, 'connect')} connecting to {url}; "
                "check the server is running and --base-url",
                url=url,
            )
        return BackendTimeoutError(
            f"no answer from {url} within {_timeout_of(exc, 'read')} (read timeout); "
            "raise the timeout or lower max_new_tokens",
            url=url,
        )
    if isinstance(exc, openai.APIConnectionError):
        reason = one_line(str(_root_cause(exc)), secret, limit=80) or "connection failed"
        return BackendUnreachableError(
            f"cannot reach the OpenAI-compatible server at {url} ({reason}); "
            "start it or check --base-url / OPENAI_BASE_URL",
            url=url,
        )
    if isinstance(exc, openai.APIStatusError):
        return _status_error(exc, url, secret)
    if isinstance(exc, openai.LengthFinishReasonError):
        return _truncated(exc, url)
    if isinstance(exc, openai.ContentFilterFinishReasonError):
        return BackendResponseError(f"{url} withheld the answer (content filter)", url=url, status=200)
    if isinstance(exc, json.JSONDecodeError | openai.APIResponseValidationError):
        return BackendResponseError(
            f"{url} sent a body that is not a valid completion (not JSON); {BASE_URL_HINT}",
            url=url,
            status=200,
        )
    if isinstance(exc, openai.APIError):  # e.g. an error event in a stream: the SDK raises the bare APIError
        detail = server_reason(exc.body, secret) if exc.body is not None else one_line(exc.message, secret)
        return BackendResponseError(f"{url} sent an error in its answer: {detail}; check its log", url=url, status=200)
    return None


@contextmanager
def translate_errors(url: str, *, secret: Secrets = None) -> Iterator[None]:
    """Re-raise openai SDK failures inside the block as `BackendError`s (others pass through untouched)."""
    try:
        yield
    except Exception as exc:
        typed = backend_error(exc, url, secret=secret)
        if typed is None or typed is exc:
            raise
        raise typed from exc


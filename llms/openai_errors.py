"""Typed, one-line errors for OpenAI-compatible servers, translated from the openai SDK's exceptions.

Every message names the URL (and HTTP status) and says what to do; none contains the API key.

>>> str(BackendUnreachableError("cannot reach http://127.0.0.1:9/v1", url="http://127.0.0.1:9/v1"))
'cannot reach http://127.0.0.1:9/v1'
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import openai

from llms.errors import RecipesError

__all__ = [
    "BackendAuthError",
    "BackendConfigError",
    "BackendConnectTimeoutError",
    "BackendError",
    "BackendRateLimitError",
    "BackendRequestError",
    "BackendResponseError",
    "BackendServerError",
    "BackendTimeoutError",
    "BackendUnreachableError",
    "backend_error",
    "clean_url",
    "one_line",
    "translate_errors",
]


class BackendError(RecipesError):
    """A call to an OpenAI-compatible server failed; `url` and `status` (None if no response) say where."""

    def __init__(self, message: str, *, url: str, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


class BackendUnreachableError(BackendError, ConnectionError):
    """No connection: refused, unknown host, or reset before an answer."""


class BackendTimeoutError(BackendError, TimeoutError):
    """The server did not answer within the timeout."""


class BackendConnectTimeoutError(BackendTimeoutError, BackendUnreachableError):
    """Connecting timed out: a timeout *and* unreachable, so fallbacks treat it like a refused connection."""


class BackendAuthError(BackendError):
    """HTTP 401/403, or no API key for api.openai.com; never retried."""


class BackendRateLimitError(BackendError):
    """HTTP 429 after the SDK's bounded retries; `retry_after` in seconds when the server said."""

    retry_after: float | None = None


class BackendServerError(BackendError):
    """HTTP 5xx after the SDK's bounded retries."""


class BackendRequestError(BackendError, ValueError):
    """Any other 4xx (400, 404, 422, ...): the server rejected the request; never retried."""


class BackendResponseError(BackendError):
    """HTTP 200 but no usable completion: an HTML or non-JSON body, no choices, or no content."""


class BackendConfigError(RecipesError, ValueError):
    """A bad base URL or an option the OpenAI-compatible backend cannot honour (refused, not ignored)."""


def clean_url(url: object) -> str:
    """The URL without credentials or query (which may hold keys): ``scheme://host:port/path``."""
    parts = urlsplit(str(url))
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def one_line(text: str, secret: str | None = None, limit: int = 160) -> str:
    """`text` on one line, at most `limit` characters, with `secret` (the API key) masked."""
    text = re.sub(r"\s+", " ", text).strip()
    if secret and len(secret) >= 4:
        text = text.replace(secret, "***")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _detail(err: openai.APIStatusError, secret: str | None) -> str:
    """The server's own reason: OpenAI's ``error.message``, FastAPI's ``detail``, or the body's text."""
    body: Any = err.body
    if isinstance(body, dict):
        inner = body.get("error")
        reason = inner.get("message") if isinstance(inner, dict) else inner
        reason = reason or body.get("detail") or body.get("message") or json.dumps(body, ensure_ascii=False)
    else:
        reason = body if body is not None else err.response.text
    return one_line(str(reason or err.response.reason_phrase or ""), secret)


def _attempts(err: openai.APIStatusError) -> str:
    """ "3 attempts": requests made, from the SDK's own ``x-stainless-retry-count`` header on the last one."""
    try:
        count = int(err.response.request.headers.get("x-stainless-retry-count", "0")) + 1
    except (ValueError, RuntimeError):
        count = 1
    return "1 attempt" if count == 1 else f"{count} attempts"


def _retry_after(headers: Any) -> float | None:
    """The server's wait in seconds: ``retry-after-ms``, ``retry-after`` seconds, or an HTTP date."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return max(0.0, float(headers.get(name))) * scale
        except (TypeError, ValueError):
            continue
    try:
        return max(0.0, email.utils.parsedate_to_datetime(headers.get("retry-after")).timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


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
    # httpx (openai<3) and httpx2 (openai>=3) name the class the same; match by name to support both.
    seen: BaseException | None = exc
    while seen is not None:
        if any(c.__name__ == "ConnectTimeout" for c in type(seen).__mro__):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _status_error(err: openai.APIStatusError, url: str, secret: str | None) -> BackendError:
    status, detail = err.status_code, _detail(err, secret)
    if status in (401, 403):
        what = "refused the API key" if status == 401 else "denied access"
        return BackendAuthError(f"{url} {what} (HTTP {status}); check OPENAI_API_KEY", url=url, status=status)
    if status == 429:
        retry_after = _retry_after(err.response.headers)
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
    from parsers import TruncatedOutputError  # lazy: parsers imports llms

    choices = getattr(err.completion, "choices", None) or []
    raw = (choices[0].message.content or "") if choices else ""
    return TruncatedOutputError(
        f"{url} stopped the answer at the token limit (finish_reason=length); raise max_new_tokens",
        raw=raw,
        finish_reason="length",
    )


def backend_error(exc: BaseException, url: str, *, secret: str | None = None) -> Exception | None:
    """The typed error for an openai SDK (or response-shape) failure at `url`, or None if it is not one.

    `url` is the endpoint we called; the failing request's own URL wins when the SDK has it.
    """
    if isinstance(exc, BackendError):
        return exc
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
            f"{url} sent a body that is not a valid completion (not JSON); "
            "check --base-url points at an OpenAI-compatible /v1 endpoint",
            url=url,
            status=200,
        )
    return None


@contextmanager
def translate_errors(url: str, *, secret: str | None = None) -> Iterator[None]:
    """Re-raise openai SDK failures inside the block as `BackendError`s (others pass through untouched)."""
    try:
        yield
    except Exception as exc:
        typed = backend_error(exc, url, secret=secret)
        if typed is None or typed is exc:
            raise
        raise typed from exc

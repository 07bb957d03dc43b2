"""Typed, one-line errors for OpenAI-compatible servers, translated from the openai SDK's exceptions.

Every message names the URL (and HTTP status) and says what to do; none contains the API key: each passes
through `llms.redact` (the configured key, the key the failing request carried, header values, URL userinfo and
secret query values, ``sk-...``-shaped tokens), so a server that echoes the request back cannot leak it.

>>> str(BackendUnreachableError("cannot reach http://127.0.0.1:9/v1", url="http://127.0.0.1:9/v1"))
'cannot reach http://127.0.0.1:9/v1'
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import openai

from llms.errors import RecipesError
from llms.redact import redact, secrets_of
from parsers.errors import TruncatedOutputError

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
    "deadline_error",
    "non_openai_body",
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


Secrets = str | Iterable[str | None] | None


def _secret_list(secret: Secrets) -> list[str | None]:
    return [secret] if secret is None or isinstance(secret, str) else list(secret)


def one_line(text: str, secret: Secrets = None, limit: int = 160) -> str:
    """`text` redacted (`secret`: the API key, or several), on one line, at most `limit` characters.

    Redacted before it is cut, so a cut never shows part of a key.
    """
    text = re.sub(r"\s+", " ", redact(text, _secret_list(secret))).strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _html_title(text: str) -> str:
    match = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    title = re.sub(r"\s+", " ", match.group(1)).strip() if match else ""
    if not title:
        match = re.search(r"<h1[^>]*>(.*?)</h1>", text, re.IGNORECASE | re.DOTALL)
        title = re.sub(r"<[^>]+>|\s+", " ", match.group(1)).strip() if match else ""
    return title


def _looks_like_html(text: str, content_type: str = "") -> bool:
    head = text.lstrip()[:15].lower()
    return "html" in content_type.lower() or head.startswith(("<!doctype", "<html", "<head", "<body", "<?xml"))


def _what_came_back(text: str, content_type: str, secrets: list[str | None]) -> str:
    """A few words on a body that is not what the API sends: HTML (its title), SSE, empty, or a quote of it."""
    if not text.strip():
        return "an empty body"
    if _looks_like_html(text, content_type):
        title = one_line(_html_title(text), secrets, limit=60)
        return f"an HTML page (title {title!r})" if title else "an HTML page"
    if "event-stream" in content_type or re.match(r"\s*(data|event|id|retry):", text):
        return "a server-sent event stream"
    kind = f" ({content_type})" if content_type and content_type != "*" else ""
    return f"a body that is not JSON{kind}: {one_line(text, secrets, limit=60)!r}"


def non_openai_body(
    url: str,
    status: int,
    content_type: str,
    body: bytes,
    *,
    stream: bool,
    expected: str = "a chat completion",
    secret: Secrets = None,
) -> BackendResponseError | None:
    """The one-line error for a 2xx answer that is not the OpenAI API's (None if it may well be).

    Non-streaming calls want a JSON object without an ``error`` key; streaming calls want server-sent
    events. `body` is the (start of the) decoded body.
    """
    secrets = _secret_list(secret)
    text = body.decode("utf-8", errors="replace")
    hint = "is --base-url right? It usually ends in /v1"
    if stream:
        if re.match(r"\s*(data|event|id|retry)?:", text.lstrip("\ufeff")):
            return None
        what = _what_came_back(text, "" if "event-stream" in content_type else content_type, secrets)
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            if data.get("error"):
                detail = _reason(data, secrets)
                message = f"{url} answered a streaming call (HTTP {status}) with an error: {detail}; check its log"
                return BackendResponseError(message, url=url, status=status)
            what = "one JSON object instead of server-sent events"
        message = f"{url} answered a streaming call (HTTP {status}) with {what} instead of events; {hint}"
        return BackendResponseError(message, url=url, status=status)
    try:
        data = json.loads(text)
    except ValueError:
        if "event-stream" in content_type or re.match(r"\s*(data|event):", text):
            what = "a server-sent event stream on a non-streaming call"
        else:
            what = _what_came_back(text, content_type, secrets)
        return BackendResponseError(
            f"{url} answered HTTP {status} with {what} instead of {expected}; {hint}", url=url, status=status
        )
    if not isinstance(data, dict):
        quote = one_line(text, secrets, limit=60)
        return BackendResponseError(
            f"{url} answered HTTP {status} with JSON that is not an object ({quote!r}) instead of {expected}; {hint}",
            url=url,
            status=status,
        )
    if data.get("error") and not data.get("choices"):
        detail = _reason(data, secrets)
        return BackendResponseError(
            f"{url} answered HTTP {status} with an error instead of {expected}: {detail}; check its log",
            url=url,
            status=status,
        )
    return None


def deadline_error(url: str, seconds: float, *, connecting: bool = False) -> BackendTimeoutError:
    """The total deadline (`timeout`, CLI ``--timeout``) ran out: connecting, or before the answer was complete."""
    if connecting:
        return BackendConnectTimeoutError(
            f"timed out connecting to {url} within the {seconds:g} s timeout (the whole request); "
            "check the server is running and --base-url",
            url=url,
        )
    return BackendTimeoutError(
        f"no complete answer from {url} within the {seconds:g} s timeout (the whole request, retries and "
        "streaming included); raise --timeout or lower max_new_tokens",
        url=url,
    )


def _reason(body: Any, secrets: Secrets) -> str:
    """The server's own reason in a JSON error body: OpenAI's ``error.message``, FastAPI's ``detail``, ..."""
    if not isinstance(body, dict):
        return one_line(str(body), secrets)
    inner = body.get("error")
    reason = inner.get("message") if isinstance(inner, dict) else inner
    if not isinstance(reason, str) or not reason:
        reason = body.get("detail") or body.get("message") or json.dumps(body, ensure_ascii=False)
    return one_line(str(reason), secrets)


def _detail(err: openai.APIStatusError, secret: Secrets) -> str:
    """The server's own reason: OpenAI's ``error.message``, FastAPI's ``detail``, an HTML page's title, or the
    body's text."""
    body: Any = err.body
    if isinstance(body, dict):
        return _reason(body, secret)
    reason = body if body is not None else err.response.text
    if isinstance(reason, str) and _looks_like_html(reason, err.response.headers.get("content-type", "")):
        return _what_came_back(reason, "text/html", _secret_list(secret))
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


def _status_error(err: openai.APIStatusError, url: str, secret: Secrets) -> BackendError:
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
    secrets = [*_secret_list(secret), *secrets_of(exc)]
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
            f"{url} sent a body that is not a valid completion (not JSON); "
            "is --base-url right? It usually ends in /v1",
            url=url,
            status=200,
        )
    if isinstance(exc, openai.APIError):  # e.g. an error event in a stream: the SDK raises the bare APIError
        detail = _reason(exc.body, secret) if exc.body is not None else one_line(exc.message, secret)
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

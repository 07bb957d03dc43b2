"""Answers that are not the OpenAI API's (HTML, SSE where JSON was due, garbage, an error body, no choices, no
events), each said as one `BackendResponseError` line.

>>> str(non_openai_body("http://h/v1/completions", 200, "text/html", b"<title>Login</title>", stream=False))
"http://h/v1/completions answered HTTP 200 with an HTML page (title 'Login') instead of a chat completion; is \
--base-url right? It usually ends in /v1"
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any, TypeVar

import openai

from llms.openai_errors import BASE_URL_HINT, BackendResponseError, Secrets, one_line, secret_list

__all__ = [
    "completion_data",
    "looks_like_html",
    "no_events",
    "non_openai_body",
    "require_aevents",
    "require_events",
    "server_reason",
    "what_came_back",
]

T = TypeVar("T")


def _html_title(text: str) -> str:
    """The page's <title> (else its first <h1>, tags taken out); whitespace is folded by `one_line` later."""
    match = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    title = match.group(1).strip() if match else ""
    if not title:
        match = re.search(r"<h1[^>]*>(.*?)</h1>", text, re.IGNORECASE | re.DOTALL)
        title = re.sub(r"<[^>]+>", " ", match.group(1)).strip() if match else ""
    return title


def looks_like_html(text: str, content_type: str = "") -> bool:
    """Whether a body is a web page (by its content type or its first tag)."""
    head = text.lstrip()[:15].lower()
    return "html" in content_type.lower() or head.startswith(("<!doctype", "<html", "<head", "<body", "<?xml"))


def what_came_back(text: str, content_type: str, secrets: Secrets) -> str:
    """A few words on a body that is not what the API sends: HTML (its title), SSE, empty, or a quote of it."""
    if not text.strip():
        return "an empty body"
    if looks_like_html(text, content_type):
        title = one_line(_html_title(text), secrets, limit=60)
        return f"an HTML page (title {title!r})" if title else "an HTML page"
    if "event-stream" in content_type or re.match(r"\s*(data|event|id|retry):", text):
        return "a server-sent event stream"
    kind = f" ({content_type})" if content_type and content_type != "*" else ""
    return f"a body that is not JSON{kind}: {one_line(text, secrets, limit=60)!r}"


def server_reason(body: Any, secrets: Secrets) -> str:
    """The server's own reason in a JSON error body: OpenAI's ``error.message``, FastAPI's ``detail``, ..."""
    if not isinstance(body, dict):
        return one_line(str(body), secrets)
    inner = body.get("error")
    reason = inner.get("message") if isinstance(inner, dict) else inner
    if not isinstance(reason, str) or not reason:
        reason = body.get("detail") or body.get("message") or json.dumps(body, ensure_ascii=False)
    return one_line(str(reason), secrets)


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
    secrets = secret_list(secret)
    text = body.decode("utf-8", errors="replace")
    if stream:
        return _not_events(url, status, content_type, text, secrets)
    try:
        data = json.loads(text)
    except ValueError:
        if "event-stream" in content_type or re.match(r"\s*(data|event):", text):
            what = "a server-sent event stream on a non-streaming call"
        else:
            what = what_came_back(text, content_type, secrets)
        return BackendResponseError(
            f"{url} answered HTTP {status} with {what} instead of {expected}; {BASE_URL_HINT}", url=url, status=status
        )
    if not isinstance(data, dict):
        quote = one_line(text, secrets, limit=60)
        return BackendResponseError(
            f"{url} answered HTTP {status} with JSON that is not an object ({quote!r}) instead of {expected}; "
            f"{BASE_URL_HINT}",
            url=url,
            status=status,
        )
    if data.get("error") and not data.get("choices"):
        detail = server_reason(data, secrets)
        return BackendResponseError(
            f"{url} answered HTTP {status} with an error instead of {expected}: {detail}; check its log",
            url=url,
            status=status,
        )
    return None


def _not_events(
    url: str, status: int, content_type: str, text: str, secrets: list[str | None]
) -> BackendResponseError | None:
    """`non_openai_body` for a streaming call: None when the body starts like server-sent events."""
    if re.match(r"\s*(data|event|id|retry)?:", text.lstrip("\ufeff")):
        return None
    what = what_came_back(text, "" if "event-stream" in content_type else content_type, secrets)
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        if data.get("error"):
            detail = server_reason(data, secrets)
            message = f"{url} answered a streaming call (HTTP {status}) with an error: {detail}; check its log"
            return BackendResponseError(message, url=url, status=status)
        what = "one JSON object instead of server-sent events"
    message = f"{url} answered a streaming call (HTTP {status}) with {what} instead of events; {BASE_URL_HINT}"
    return BackendResponseError(message, url=url, status=status)


def completion_data(response: object, url: str, expected: str, secret: Secrets = None) -> dict[str, Any]:
    """The SDK's parsed answer as a dict; the typed error when the SDK handed over a str (it does for a body
    that is not JSON) or anything else that is not a completion."""
    if isinstance(response, dict):
        return response
    if isinstance(response, openai.BaseModel):
        return response.model_dump(warnings=False)
    error = non_openai_body(url, 200, "", str(response).encode(), stream=False, expected=expected, secret=secret)
    raise error or BackendResponseError(
        f"{url} answered HTTP 200 with {type(response).__name__} instead of {expected}; {BASE_URL_HINT}",
        url=url,
        status=200,
    )


def no_events(url: str) -> BackendResponseError:
    """A streaming call whose answer held no events at all."""
    return BackendResponseError(
        f"{url} answered a streaming call (HTTP 200) with no events; {BASE_URL_HINT}", url=url, status=200
    )


def require_events(chunks: Iterator[T], url: str) -> Iterator[T]:
    """`chunks`, then `no_events` if there were none (else LangChain's bare "No generation chunks were returned")."""
    seen = False
    for chunk in chunks:
        seen = True
        yield chunk
    if not seen:
        raise no_events(url)


async def require_aevents(chunks: AsyncIterator[T], url: str) -> AsyncIterator[T]:
    """`require_events` for an async stream."""
    seen = False
    async for chunk in chunks:
        seen = True
        yield chunk
    if not seen:
        raise no_events(url)

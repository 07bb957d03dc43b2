"""httpx transports for the openai SDK: one total deadline per model call (`llms.openai_deadline`), and 2xx
answers to /completions checked to be the API's (JSON, or SSE when streaming) before the SDK parses them: the SDK
returns HTML or garbage as a str (hence "'str' object has no attribute 'choices'").

The sync transport bounds every socket operation with a wrapped httpcore network backend; the async one puts a
cancel scope around each step.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio

from llms.openai_deadline import (
    HTTPX,
    SLACK_S,
    Budget,
    DeadlinePassed,
    budget_of,
    exactly_bounded,
    stop_retries_past_deadline,
    thread_deadline,
    typed_failures,
)
from llms.openai_errors import clean_url
from llms.openai_responses import non_openai_body
from llms.redact import request_secrets

__all__ = ["AsyncDeadlineTransport", "DeadlineTransport"]

_PEEK_BYTES = 65536  # how much of a bad body is read to say what it is


def _expectation(request: Any) -> tuple[str, bool] | None:
    """(what a 2xx answer must be, whether it streams) for calls to /completions; None for anything else."""
    path = request.url.path.rstrip("/")
    if request.method != "POST" or not path.endswith("/completions"):
        return None
    try:
        body = json.loads(request.content or b"{}")
    except (ValueError, RuntimeError, TypeError):  # RuntimeError: a streamed request body, not read
        return None
    expected = "a chat completion" if path.endswith("/chat/completions") else "a completion"
    return expected, isinstance(body, dict) and bool(body.get("stream"))


def _decoded(response: Any, raw: bytes) -> bytes:
    probe = HTTPX.Response(response.status_code, headers=response.headers, stream=HTTPX.ByteStream(raw))
    try:
        return bytes(probe.read())
    except HTTPX.DecodingError:
        return raw


def _rebuilt(response: Any, request: Any, stream: Any) -> Any:
    return HTTPX.Response(
        response.status_code, headers=response.headers, stream=stream, extensions=response.extensions, request=request
    )


def _bad_body(response: Any, request: Any, body: bytes, stream: bool, expected: str) -> Exception | None:
    return non_openai_body(
        clean_url(request.url),
        response.status_code,
        response.headers.get("content-type", ""),
        body,
        stream=stream,
        expected=expected,
        secret=request_secrets(request),
    )


def _looks_like_events(head: bytes) -> bool | None:
    """True/False once the first non-blank bytes of a streamed body say SSE or not; None while they don't yet."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text:
        return None
    return any(text.startswith(p) or p.startswith(text) for p in (b"data:", b"event:", b"id:", b"retry:", b":"))


class _Peek:
    """The first chunks of a 2xx /completions body, read until they say whether it is the API's answer."""

    def __init__(self, expected: str, streaming: bool) -> None:
        self.expected, self.streaming = expected, streaming
        self.head: list[bytes] = []
        self.verdict: bool | None = None  # streaming: True once the body starts like SSE, False once it does not

    def wants_more(self) -> bool:
        """Non-streaming: the whole body; streaming: until it looks like events, else up to 64 KiB to quote."""
        if not self.streaming:
            return True
        if self.verdict is None:
            self.verdict = _looks_like_events(b"".join(self.head))
        if self.verdict is None:
            return True
        return not self.verdict and sum(map(len, self.head)) < _PEEK_BYTES

    @property
    def passes(self) -> bool:
        return bool(self.verdict)


def _peek_for(response: Any, request: Any) -> _Peek | None:
    """A `_Peek` for a 2xx answer to /completions; None for anything else, and for a compressed stream (left to
    the SDK's decoder)."""
    expectation = _expectation(request) if 200 <= response.status_code < 300 else None
    if expectation is None or (expectation[1] and response.headers.get("content-encoding")):
        return None
    return _Peek(*expectation)


def _buffered(response: Any, request: Any, peek: _Peek) -> Any:
    """A body that did not pass the peek, read whole: its error, or (if it may well be the API's) the response."""
    raw = b"".join(peek.head)
    error = _bad_body(response, request, _decoded(response, raw), peek.streaming, peek.expected)
    if error is not None:
        raise error
    return _rebuilt(response, request, HTTPX.ByteStream(raw))


class _SyncBody(HTTPX.SyncByteStream):  # type: ignore[misc]
    """A response body read within the deadline: the bytes already peeked, then the rest."""

    def __init__(self, head: list[bytes], rest: Iterator[bytes], inner: Any, budget: Budget, exact: bool) -> None:
        self._head, self._rest, self._inner, self._budget, self._exact = head, rest, inner, budget, exact

    def __iter__(self) -> Iterator[bytes]:
        yield from self._head
        while True:
            chunk = _next_within(self._rest, self._budget, self._exact)
            if chunk is None:
                return
            yield chunk

    def close(self) -> None:
        self._inner.close()


def _next_within(chunks: Iterator[bytes], budget: Budget, exact: bool, request: Any = None) -> bytes | None:
    """The next body chunk (None at the end), read with this thread's deadline set; the deadline's error if not."""
    with thread_deadline(budget), typed_failures(request, budget):
        if budget.left() <= 0:
            raise DeadlinePassed("reading")
        chunk = next(chunks, None)
    if chunk is not None and not exact and budget.left() <= 0:
        raise budget.error()
    return chunk


class DeadlineTransport(HTTPX.BaseTransport):  # type: ignore[misc]
    """The sync transport: the total deadline, bounded retries and the body checks (see the module doc)."""

    def __init__(self, inner: Any, default_s: float) -> None:
        self._inner, self._default_s = inner, default_s
        self._exact = exactly_bounded(inner)

    def handle_request(self, request: Any) -> Any:
        budget = budget_of(request, self._default_s)
        with thread_deadline(budget), typed_failures(request, budget):
            response = self._inner.handle_request(request)
        stop_retries_past_deadline(response, request, budget)
        chunks = iter(response.stream)
        peek = _peek_for(response, request)
        if peek is not None:
            try:
                while peek.wants_more() and (chunk := _next_within(chunks, budget, self._exact, request)) is not None:
                    peek.head.append(chunk)
            except BaseException:
                response.close()
                raise
            if not peek.passes:
                response.close()
                return _buffered(response, request, peek)
        head = [] if peek is None else peek.head
        return _rebuilt(response, request, _SyncBody(head, chunks, response.stream, budget, self._exact))

    def close(self) -> None:
        self._inner.close()

    def __enter__(self) -> DeadlineTransport:
        self._inner.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._inner.__exit__(*exc)


class _AsyncBody(HTTPX.AsyncByteStream):  # type: ignore[misc]
    """An async response body read within the deadline: the bytes already peeked, then the rest of `inner` (an
    httpx body, or an `_AsyncBody` whose first chunks were peeked)."""

    def __init__(self, head: list[bytes], inner: Any, budget: Budget) -> None:
        self._head, self._inner, self._budget = head, inner, budget
        self.chunks: Any = inner.chunks if isinstance(inner, _AsyncBody) else inner.__aiter__()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for peeked in self._head:
            yield peeked
        while (chunk := await _anext_within(self.chunks, self._budget)) is not None:
            yield chunk

    async def aclose(self) -> None:
        closing = getattr(self.chunks, "aclose", None)
        if closing is not None:
            await closing()
        await self._inner.aclose()


async def _anext_within(chunks: Any, budget: Budget, request: Any = None) -> bytes | None:
    """The next body chunk (None at the end) within the deadline; the deadline's error if not."""
    chunk = None
    with anyio.move_on_after(max(budget.left(), 0)) as scope, typed_failures(request, budget):
        try:
            chunk = await chunks.__anext__()
        except StopAsyncIteration:
            return None
    if scope.cancelled_caught:
        raise budget.error()
    return chunk


class AsyncDeadlineTransport(HTTPX.AsyncBaseTransport):  # type: ignore[misc]
    """The async transport: as `DeadlineTransport`, with cancel scopes instead of a wrapped network backend."""

    def __init__(self, inner: Any, default_s: float) -> None:
        self._inner, self._default_s = inner, default_s

    async def handle_async_request(self, request: Any) -> Any:
        budget = budget_of(request, self._default_s)
        response = None
        # A little past the deadline, so that httpx's own (clamped) connect timeout says "connecting" first.
        with anyio.move_on_after(budget.left() + 5 * SLACK_S) as scope, typed_failures(request, budget):
            response = await self._inner.handle_async_request(request)
        if scope.cancelled_caught or response is None:
            raise budget.error()
        stop_retries_past_deadline(response, request, budget)
        body = _AsyncBody([], response.stream, budget)
        peek = _peek_for(response, request)
        if peek is not None:
            try:
                while peek.wants_more() and (chunk := await _anext_within(body.chunks, budget, request)) is not None:
                    peek.head.append(chunk)
            except BaseException:
                await body.aclose()
                raise
            if not peek.passes:
                await body.aclose()
                return _buffered(response, request, peek)
            body = _AsyncBody(peek.head, body, budget)
        return _rebuilt(response, request, body)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> AsyncDeadlineTransport:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._inner.__aexit__(*exc)

"""How we talk HTTP to OpenAI-compatible servers: the connection (URL, key, timeouts, retries), and httpx clients
whose transports enforce one deadline per request (retries and streaming included) and recognise answers that are
not OpenAI's (HTML, SSE, garbage) before the SDK misreads them.
"""

from __future__ import annotations

import importlib
import json
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

import anyio
import openai

from llms.openai_errors import (
    BackendAuthError,
    BackendConfigError,
    clean_url,
    deadline_error,
    non_openai_body,
)
from llms.options import ModelOptions
from llms.redact import redact, request_secrets

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT_S",
    "DEFAULT_DEADLINE_S",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_READ_TIMEOUT_S",
    "OPENAI_BASE_URL",
    "Connection",
    "async_http_client",
    "deadline_payload",
    "resolve_connection",
    "sync_http_client",
]

OPENAI_BASE_URL = "https://api.openai.com/v1"
DEFAULT_CONNECT_TIMEOUT_S = 5.0
DEFAULT_READ_TIMEOUT_S = 60.0
# Without `timeout`, the whole request (retries and streaming included) may take this long: the SDK's default.
DEFAULT_DEADLINE_S = 600.0
DEFAULT_MAX_RETRIES = 2  # the SDK's own default: 3 attempts, then a typed error
MAX_RETRIES_LIMIT = 10
# Local servers don't check the key, but the SDK refuses to start without one.
DUMMY_KEY = "sk-no-key-needed"


@dataclass(frozen=True)
class Connection:
    """Where and how to call: base URL, key (never printed), timeouts and the SDK's retry budget.

    `deadline`: seconds for the whole request (retries and streaming included); `basic_auth` and `query`: the
    base URL's userinfo and query, taken out of it so that no printed URL carries them (sent as before: the
    userinfo as HTTP Basic auth, the query on every request).
    """

    base_url: str
    api_key: str
    timeout: openai.Timeout
    max_retries: int
    deadline: float = DEFAULT_DEADLINE_S
    basic_auth: tuple[str, str] | None = None
    query: tuple[tuple[str, str], ...] = ()

    def __repr__(self) -> str:  # the dataclass repr would print the key
        return f"Connection(base_url={self.base_url!r}, max_retries={self.max_retries})"

    @property
    def is_openai(self) -> bool:
        return urlsplit(self.base_url).hostname == "api.openai.com"


def resolve_connection(opts: ModelOptions) -> Connection:
    """base_url from opts or ``OPENAI_BASE_URL``; key from opts or ``OPENAI_API_KEY`` (else a dummy key)."""
    base_url, basic_auth, query = _split_base_url(opts.base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_BASE_URL)
    key = opts.api_key or os.environ.get("OPENAI_API_KEY") or ""
    if not key:
        if urlsplit(base_url).hostname == "api.openai.com":
            raise BackendAuthError(
                f"no API key for {base_url}: set OPENAI_API_KEY, or --base-url for a local server",
                url=base_url,
            )
        key = DUMMY_KEY
    if opts.timeout is not None and opts.timeout <= 0:
        raise BackendConfigError(f"timeout must be > 0 seconds, got {opts.timeout}")
    read = opts.timeout if opts.timeout is not None else DEFAULT_READ_TIMEOUT_S
    retries = DEFAULT_MAX_RETRIES if opts.max_retries is None else opts.max_retries
    if not 0 <= retries <= MAX_RETRIES_LIMIT:
        raise BackendConfigError(f"max_retries must be 0..{MAX_RETRIES_LIMIT}, got {retries}")
    timeout = openai.Timeout(read, connect=min(DEFAULT_CONNECT_TIMEOUT_S, read))
    deadline = opts.timeout if opts.timeout is not None else DEFAULT_DEADLINE_S
    return Connection(base_url, key, timeout, retries, deadline, basic_auth, query)


def _split_base_url(url: str) -> tuple[str, tuple[str, str] | None, tuple[tuple[str, str], ...]]:
    """``scheme://host:port/path`` and, apart, the userinfo (user, password) and the query pairs."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        parts, port = urlsplit(""), None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BackendConfigError(f"base URL {redact(url.strip())!r} must look like http://host:port/v1")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    netloc = f"{host}:{port}" if port else host
    base_url = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    userinfo = (unquote(parts.username or ""), unquote(parts.password or ""))
    return base_url, userinfo if any(userinfo) else None, tuple(parse_qsl(parts.query, keep_blank_values=True))


# --- HTTP: one total deadline per request, and answers that are not the OpenAI API's ---------------------
#
# httpx has no total timeout: its read timeout bounds each read, so a server that drips a byte a second holds a
# request forever. Each model call puts its deadline (now + `timeout`) in a header that our transport takes off
# before sending; every attempt the SDK makes for that call (its retries) shares it. The transport then:
#   - gives every socket operation at most the time left (sync: a wrapped httpcore network backend, so even a
#     read that is dripping bytes ends at the deadline; async: a cancel scope around each step);
#   - tells the SDK not to retry when the wait before the retry would not fit (``x-should-retry: false`` on the
#     response; for errors, the SDK's own non-retried exception), so retries never run past the deadline;
#   - checks a 2xx answer to /completions is the API's (JSON, or SSE when streaming) before the SDK parses it:
#     the SDK returns HTML or garbage as a str (hence "'str' object has no attribute 'choices'").

# The SDK's own httpx flavour (httpx for openai<3, httpx2 for openai>=3), found without private imports.
_HTTPX: Any = importlib.import_module(
    next(c for c in openai.DefaultAsyncHttpxClient.__mro__ if c.__name__ == "AsyncClient").__module__.partition(".")[0]
)
DEADLINE_HEADER = "x-recipes-deadline"  # "<time.monotonic() deadline> <seconds>"; never sent
_SLACK_S = 0.02  # a timeout this close to the deadline is the deadline's
_PEEK_BYTES = 65536  # how much of a bad body is read to say what it is
_RETRIED_STATUSES = frozenset({408, 409, 429})
_local = threading.local()  # sync: the deadline of the request this thread is reading or writing for


class _DeadlinePassed(Exception):
    """Raised by the wrapped network backend when no time is left; the transport turns it into a typed error."""

    def __init__(self, phase: str) -> None:
        super().__init__(f"deadline passed while {phase}")
        self.phase = phase


@dataclass(frozen=True)
class _Budget:
    """One model call's deadline, as seen by one of its HTTP requests."""

    deadline: float  # time.monotonic()
    seconds: float  # the configured total, for the message
    url: str

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def error(self, *, connecting: bool = False) -> Exception:
        return deadline_error(self.url, self.seconds, connecting=connecting)


def _deadline_header(seconds: float | None) -> dict[str, str]:
    return {} if seconds is None else {DEADLINE_HEADER: f"{time.monotonic() + seconds:.6f} {seconds:g}"}


def deadline_payload(payload: dict[Any, Any], seconds: float | None) -> dict[Any, Any]:
    if seconds is not None:
        payload["extra_headers"] = {**(payload.get("extra_headers") or {}), **_deadline_header(seconds)}
    return payload


def _budget_of(request: Any, default_s: float) -> _Budget:
    """The call's deadline from our header (taken off the request), else `default_s` from now."""
    raw = request.headers.get(DEADLINE_HEADER)
    if raw is not None:
        del request.headers[DEADLINE_HEADER]
    try:
        deadline, seconds = (float(x) for x in str(raw).split())
    except ValueError:
        deadline, seconds = time.monotonic() + default_s, default_s
    budget = _Budget(deadline, seconds, clean_url(request.url))
    left = max(budget.left(), 0.001)
    timeouts = request.extensions.get("timeout") or {}  # each phase's httpx timeout, at most the time left
    request.extensions["timeout"] = {
        phase: left if timeouts.get(phase) is None else min(timeouts[phase], left)
        for phase in ("connect", "read", "write", "pool")
    }
    return budget


def _clamped(timeout: float | None, phase: str) -> float | None:
    deadline = getattr(_local, "deadline", None)
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise _DeadlinePassed(phase)
    return left if timeout is None else min(timeout, left)


class _DeadlineStream:
    """A sync httpcore network stream whose every read and write ends by the current request's deadline."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return bytes(self._inner.read(max_bytes, _clamped(timeout, "reading")))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamped(timeout, "writing"))

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None) -> Any:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, _clamped(timeout, "connecting")))

    def __getattr__(self, name: str) -> Any:  # close, get_extra_info
        return getattr(self._inner, name)


class _DeadlineBackend:
    """A sync httpcore network backend whose connections honour the deadline (see `_DeadlineStream`)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, *args: Any, **kw: Any) -> Any:
        return _DeadlineStream(self._inner.connect_tcp(host, port, _clamped(timeout, "connecting"), *args, **kw))

    def connect_unix_socket(self, path: str, timeout: float | None = None, *args: Any, **kw: Any) -> Any:
        return _DeadlineStream(self._inner.connect_unix_socket(path, _clamped(timeout, "connecting"), *args, **kw))

    def __getattr__(self, name: str) -> Any:  # sleep
        return getattr(self._inner, name)


def _exactly_bounded(transport: Any) -> bool:
    """Wrap the httpcore pool's network backend of an httpx HTTPTransport; False where it has none to wrap (then
    each read is bounded by the time left when the request started, and the body is checked between chunks)."""
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if backend is None:
        return False
    if not isinstance(backend, _DeadlineBackend):
        pool._network_backend = _DeadlineBackend(backend)  # type: ignore[union-attr]
    return True


def _is_timeout(exc: BaseException) -> bool:
    return any(c.__name__ == "TimeoutException" for c in type(exc).__mro__)


def _is_connect_phase(exc: BaseException) -> bool:
    if isinstance(exc, _DeadlinePassed):
        return exc.phase == "connecting"
    return any(c.__name__ in ("ConnectTimeout", "PoolTimeout") for c in type(exc).__mro__)


def _retry_wait(request: Any, response: Any = None) -> float:
    """How long the SDK would sleep before retrying `request`: the server's retry-after, else its backoff."""
    if response is not None:
        for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
            try:
                wait = float(response.headers.get(name)) * scale
            except (TypeError, ValueError):
                continue
            if 0 < wait <= 120:
                return wait
    try:
        retries_taken = int(request.headers.get("x-stainless-retry-count", "0"))
    except ValueError:
        retries_taken = 0
    return float(min(0.5 * 2.0 ** min(retries_taken, 10), 8.0)) * 0.75  # the SDK's backoff, less its jitter


def _failed(exc: Exception, request: Any, budget: _Budget) -> Exception:
    """What to raise for a transport failure: the deadline's error, the SDK's own non-retried error when a retry
    could not fit in the time left, or `exc` itself (then the SDK may retry)."""
    if isinstance(exc, _DeadlinePassed) or (_is_timeout(exc) and budget.left() <= _SLACK_S):
        return budget.error(connecting=_is_connect_phase(exc))
    if request is not None and budget.left() < _retry_wait(request):
        if _is_timeout(exc):
            return openai.APITimeoutError(request=request)
        if isinstance(exc, _HTTPX.RequestError):
            return openai.APIConnectionError(request=request)
    return exc


def _stop_retries_past_deadline(response: Any, request: Any, budget: _Budget) -> None:
    status = response.status_code
    retried = status in _RETRIED_STATUSES or status >= 500
    if retried and "x-should-retry" not in response.headers and budget.left() < _retry_wait(request, response):
        response.headers["x-should-retry"] = "false"


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
    probe = _HTTPX.Response(response.status_code, headers=response.headers, stream=_HTTPX.ByteStream(raw))
    try:
        return bytes(probe.read())
    except _HTTPX.DecodingError:
        return raw


def _rebuilt(response: Any, request: Any, stream: Any) -> Any:
    return _HTTPX.Response(
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


class _SyncBody(_HTTPX.SyncByteStream):  # type: ignore[misc]
    """A response body read within the deadline: the bytes already peeked, then the rest."""

    def __init__(self, head: list[bytes], rest: Iterator[bytes], inner: Any, budget: _Budget, exact: bool) -> None:
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


def _next_within(chunks: Iterator[bytes], budget: _Budget, exact: bool, request: Any = None) -> bytes | None:
    """The next body chunk (None at the end), read with this thread's deadline set; the deadline's error if not."""
    previous, _local.deadline = getattr(_local, "deadline", None), budget.deadline
    try:
        if budget.left() <= 0:
            raise _DeadlinePassed("reading")
        chunk = next(chunks, None)
    except Exception as exc:
        failure = _failed(exc, request, budget)
        if failure is exc:
            raise
        raise failure from exc
    finally:
        _local.deadline = previous
    if chunk is not None and not exact and budget.left() <= 0:
        raise budget.error()
    return chunk


class _DeadlineTransport(_HTTPX.BaseTransport):  # type: ignore[misc]
    """The sync transport: the total deadline, bounded retries and the body checks (see the section comment)."""

    def __init__(self, inner: Any, default_s: float) -> None:
        self._inner, self._default_s = inner, default_s
        self._exact = _exactly_bounded(inner)

    def handle_request(self, request: Any) -> Any:
        budget = _budget_of(request, self._default_s)
        if budget.left() <= 0:
            raise budget.error()
        previous, _local.deadline = getattr(_local, "deadline", None), budget.deadline
        try:
            response = self._inner.handle_request(request)
        except Exception as exc:
            failure = _failed(exc, request, budget)
            if failure is exc:
                raise
            raise failure from exc
        finally:
            _local.deadline = previous
        _stop_retries_past_deadline(response, request, budget)
        expectation = _expectation(request) if 200 <= response.status_code < 300 else None
        chunks = iter(response.stream)
        if expectation is None:
            return _rebuilt(response, request, _SyncBody([], chunks, response.stream, budget, self._exact))
        expected, streaming = expectation
        if streaming and response.headers.get("content-encoding"):  # compressed: left to the SDK's decoder
            return _rebuilt(response, request, _SyncBody([], chunks, response.stream, budget, self._exact))
        head: list[bytes] = []
        verdict: bool | None = None
        try:
            while streaming and (verdict := _looks_like_events(b"".join(head))) is None:
                if (chunk := _next_within(chunks, budget, self._exact, request)) is None:
                    break
                head.append(chunk)
            while not verdict and (not streaming or sum(map(len, head)) < _PEEK_BYTES):  # a bad stream: 64 KiB
                if (chunk := _next_within(chunks, budget, self._exact, request)) is None:
                    break
                head.append(chunk)
        except BaseException:
            response.close()
            raise
        if verdict:
            return _rebuilt(response, request, _SyncBody(head, chunks, response.stream, budget, self._exact))
        response.close()
        raw = b"".join(head)
        error = _bad_body(response, request, _decoded(response, raw), streaming, expected)
        if error is not None:
            raise error
        return _rebuilt(response, request, _HTTPX.ByteStream(raw))

    def close(self) -> None:
        self._inner.close()

    def __enter__(self) -> _DeadlineTransport:
        self._inner.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._inner.__exit__(*exc)


class _AsyncBody(_HTTPX.AsyncByteStream):  # type: ignore[misc]
    """An async response body read within the deadline: the bytes already peeked, then the rest of `inner` (an
    httpx body, or an `_AsyncBody` whose first chunks were peeked)."""

    def __init__(self, head: list[bytes], inner: Any, budget: _Budget) -> None:
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


async def _anext_within(chunks: Any, budget: _Budget, request: Any = None) -> bytes | None:
    """The next body chunk (None at the end) within the deadline; the deadline's error if not."""
    chunk = None
    with anyio.move_on_after(max(budget.left(), 0)) as scope:
        try:
            chunk = await chunks.__anext__()
        except StopAsyncIteration:
            return None
        except Exception as exc:
            failure = _failed(exc, request, budget)
            if failure is exc:
                raise
            raise failure from exc
    if scope.cancelled_caught:
        raise budget.error()
    return chunk


class _AsyncDeadlineTransport(_HTTPX.AsyncBaseTransport):  # type: ignore[misc]
    """The async transport: as `_DeadlineTransport`, with cancel scopes instead of a wrapped network backend."""

    def __init__(self, inner: Any, default_s: float) -> None:
        self._inner, self._default_s = inner, default_s

    async def handle_async_request(self, request: Any) -> Any:
        budget = _budget_of(request, self._default_s)
        if budget.left() <= 0:
            raise budget.error()
        response = None
        # A little past the deadline, so that httpx's own (clamped) connect timeout says "connecting" first.
        with anyio.move_on_after(budget.left() + 5 * _SLACK_S) as scope:
            try:
                response = await self._inner.handle_async_request(request)
            except Exception as exc:
                failure = _failed(exc, request, budget)
                if failure is exc:
                    raise
                raise failure from exc
        if scope.cancelled_caught or response is None:
            raise budget.error()
        _stop_retries_past_deadline(response, request, budget)
        expectation = _expectation(request) if 200 <= response.status_code < 300 else None
        if expectation is None:
            return _rebuilt(response, request, _AsyncBody([], response.stream, budget))
        expected, streaming = expectation
        body = _AsyncBody([], response.stream, budget)
        if streaming and response.headers.get("content-encoding"):  # compressed: left to the SDK's decoder
            return _rebuilt(response, request, body)
        head: list[bytes] = []
        verdict: bool | None = None
        try:
            while streaming and (verdict := _looks_like_events(b"".join(head))) is None:
                if (chunk := await _anext_within(body.chunks, budget, request)) is None:
                    break
                head.append(chunk)
            while not verdict and (not streaming or sum(map(len, head)) < _PEEK_BYTES):  # a bad stream: 64 KiB
                if (chunk := await _anext_within(body.chunks, budget, request)) is None:
                    break
                head.append(chunk)
        except BaseException:
            await body.aclose()
            raise
        if verdict:
            return _rebuilt(response, request, _AsyncBody(head, body, budget))
        await body.aclose()
        raw = b"".join(head)
        error = _bad_body(response, request, _decoded(response, raw), streaming, expected)
        if error is not None:
            raise error
        return _rebuilt(response, request, _HTTPX.ByteStream(raw))

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> _AsyncDeadlineTransport:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._inner.__aexit__(*exc)


def _wrap_transports(client: Any, wrap: Any) -> bool:
    """Put `wrap` around every transport of an httpx client: the default one and those for the environment's
    proxies (which a client built with ``transport=`` would ignore). False if the client has no such fields."""
    if getattr(client, "_transport", None) is None or not isinstance(getattr(client, "_mounts", None), dict):
        return False
    client._transport = wrap(client._transport)
    client._mounts = {pattern: t if t is None else wrap(t) for pattern, t in client._mounts.items()}
    return True


def _client_options(conn: Connection) -> dict[str, Any]:
    options: dict[str, Any] = {"timeout": conn.timeout}
    if conn.basic_auth is not None:  # the base URL's userinfo, sent as before: as HTTP Basic auth
        options["auth"] = _HTTPX.BasicAuth(*conn.basic_auth)
    return options


def sync_http_client(conn: Connection) -> Any:
    """The SDK's default sync client, every transport wrapped in `_DeadlineTransport`."""
    client = openai.DefaultHttpxClient(**_client_options(conn))
    if _wrap_transports(client, lambda t: _DeadlineTransport(t, conn.deadline)):
        return client
    inner = _HTTPX.HTTPTransport(limits=_HTTPX.Limits(max_connections=1000, max_keepalive_connections=100))
    return openai.DefaultHttpxClient(transport=_DeadlineTransport(inner, conn.deadline), **_client_options(conn))


def async_http_client(conn: Connection) -> Any:
    """An async HTTP client without keep-alive, so one model works under any event loop; every transport
    wrapped in `_AsyncDeadlineTransport`.

    A kept-alive connection belongs to the loop that opened it: a second ``asyncio.run(model.ainvoke(...))``
    would reuse it and fail with "Event loop is closed". One connection per async request avoids that.
    """
    limits = _HTTPX.Limits(max_connections=100, max_keepalive_connections=0)
    client = openai.DefaultAsyncHttpxClient(limits=limits, **_client_options(conn))
    if _wrap_transports(client, lambda t: _AsyncDeadlineTransport(t, conn.deadline)):
        return client
    transport = _AsyncDeadlineTransport(_HTTPX.AsyncHTTPTransport(limits=limits), conn.deadline)
    return openai.DefaultAsyncHttpxClient(transport=transport, **_client_options(conn))



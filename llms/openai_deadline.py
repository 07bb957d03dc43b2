"""One total deadline per model call, retries included, on top of the openai SDK's own timeouts and retries.

httpx has no total timeout: its read timeout bounds each read, so a server that drips a byte a second holds a
request forever. Each model call puts its deadline (now + `timeout`) in a header that our transport
(`llms.openai_transport`) takes off before sending; every attempt the SDK makes for that call (its retries)
shares it. This module holds the pieces:
  - every socket operation gets at most the time left (sync: a wrapped httpcore network backend, so even a
    read that is dripping bytes ends at the deadline; async: the transport's cancel scope around each step);
  - the SDK is told not to retry when the wait before the retry would not fit (``x-should-retry: false`` on the
    response; for errors, the SDK's own non-retried exception), so retries never run past the deadline.

>>> deadline_payload({"model": "m"}, None)
{'model': 'm'}
"""

from __future__ import annotations

import email.utils
import importlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import openai

from llms.openai_errors import clean_url, deadline_error

__all__ = [
    "DEADLINE_HEADER",
    "HTTPX",
    "SLACK_S",
    "Budget",
    "DeadlinePassed",
    "budget_of",
    "deadline_payload",
    "exactly_bounded",
    "failed",
    "is_named",
    "retry_after_s",
    "stop_retries_past_deadline",
    "thread_deadline",
    "typed_failures",
]

# The SDK's own httpx flavour (httpx for openai<3, httpx2 for openai>=3), found without private imports.
HTTPX: Any = importlib.import_module(
    next(c for c in openai.DefaultAsyncHttpxClient.__mro__ if c.__name__ == "AsyncClient").__module__.partition(".")[0]
)
DEADLINE_HEADER = "x-recipes-deadline"  # "<time.monotonic() deadline> <seconds>"; never sent
SLACK_S = 0.02  # a timeout this close to the deadline is the deadline's
MAX_RETRY_AFTER_S = 120.0  # the SDK honours a server's retry-after up to two minutes
_RETRIED_STATUSES = frozenset({408, 409, 429})
_local = threading.local()  # sync: the deadline of the request this thread is reading or writing for


class DeadlinePassed(Exception):
    """Raised by the wrapped network backend when no time is left; the transport turns it into a typed error."""

    def __init__(self, phase: str) -> None:
        super().__init__(f"deadline passed while {phase}")
        self.phase = phase


@dataclass(frozen=True)
class Budget:
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
    """`payload` (an SDK call's keyword arguments) carrying a deadline `seconds` from now, for all its retries."""
    if seconds is not None:
        payload["extra_headers"] = {**(payload.get("extra_headers") or {}), **_deadline_header(seconds)}
    return payload


def budget_of(request: Any, default_s: float) -> Budget:
    """The call's deadline from our header (taken off the request), else `default_s` from now; the deadline's error
    if no time is left. Each phase's httpx timeout on the request becomes at most the time left."""
    raw = request.headers.get(DEADLINE_HEADER)
    if raw is not None:
        del request.headers[DEADLINE_HEADER]
    try:
        deadline, seconds = (float(x) for x in str(raw).split())
    except ValueError:
        deadline, seconds = time.monotonic() + default_s, default_s
    budget = Budget(deadline, seconds, clean_url(request.url))
    if budget.left() <= 0:
        raise budget.error()
    left = max(budget.left(), 0.001)
    timeouts = request.extensions.get("timeout") or {}
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
        raise DeadlinePassed(phase)
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


def exactly_bounded(transport: Any) -> bool:
    """Wrap the httpcore pool's network backend of an httpx HTTPTransport; False where it has none to wrap (then
    each read is bounded by the time left when the request started, and the body is checked between chunks)."""
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if backend is None:
        return False
    if not isinstance(backend, _DeadlineBackend):
        pool._network_backend = _DeadlineBackend(backend)  # type: ignore[union-attr]
    return True


def is_named(exc: BaseException, *names: str) -> bool:
    """Whether `exc` is an instance of a class called one of `names`: httpx (openai<3) and httpx2 (openai>=3) name
    their exception classes the same, so matching by name supports both."""
    return any(c.__name__ in names for c in type(exc).__mro__)


def _is_connect_phase(exc: BaseException) -> bool:
    if isinstance(exc, DeadlinePassed):
        return exc.phase == "connecting"
    return is_named(exc, "ConnectTimeout", "PoolTimeout")


def retry_after_s(headers: Any) -> float | None:
    """The server's wait in seconds, read as the SDK reads it: ``retry-after-ms``, ``retry-after`` seconds, or an
    HTTP date (None if it said none)."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return max(0.0, float(headers.get(name))) * scale
        except (TypeError, ValueError):
            continue
    try:
        return max(0.0, email.utils.parsedate_to_datetime(headers.get("retry-after")).timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _retry_wait(request: Any, response: Any = None) -> float:
    """How long the SDK would sleep before retrying `request`: the server's retry-after, else its backoff."""
    wait = None if response is None else retry_after_s(response.headers)
    if wait is not None and 0 < wait <= MAX_RETRY_AFTER_S:
        return wait
    try:
        retries_taken = int(request.headers.get("x-stainless-retry-count", "0"))
    except ValueError:
        retries_taken = 0
    return float(min(0.5 * 2.0 ** min(retries_taken, 10), 8.0)) * 0.75  # the SDK's backoff, less its jitter


def failed(exc: Exception, request: Any, budget: Budget) -> Exception:
    """What to raise for a transport failure: the deadline's error, the SDK's own non-retried error when a retry
    could not fit in the time left, or `exc` itself (then the SDK may retry)."""
    if isinstance(exc, DeadlinePassed) or (is_named(exc, "TimeoutException") and budget.left() <= SLACK_S):
        return budget.error(connecting=_is_connect_phase(exc))
    if request is not None and budget.left() < _retry_wait(request):
        if is_named(exc, "TimeoutException"):
            return openai.APITimeoutError(request=request)
        if isinstance(exc, HTTPX.RequestError):
            return openai.APIConnectionError(request=request)
    return exc


def stop_retries_past_deadline(response: Any, request: Any, budget: Budget) -> None:
    """Mark a response the SDK would retry ``x-should-retry: false`` when the wait before the retry would not fit."""
    status = response.status_code
    retried = status in _RETRIED_STATUSES or status >= 500
    if retried and "x-should-retry" not in response.headers and budget.left() < _retry_wait(request, response):
        response.headers["x-should-retry"] = "false"


@contextmanager
def thread_deadline(budget: Budget) -> Iterator[None]:
    """Sync only: the block's socket operations on this thread end by `budget`'s deadline (`_DeadlineStream`)."""
    previous, _local.deadline = getattr(_local, "deadline", None), budget.deadline
    try:
        yield
    finally:
        _local.deadline = previous


@contextmanager
def typed_failures(request: Any, budget: Budget) -> Iterator[None]:
    """Re-raise a transport failure inside the block as `failed` says (sync and async callers alike)."""
    try:
        yield
    except Exception as exc:
        failure = failed(exc, request, budget)
        if failure is exc:
            raise
        raise failure from exc

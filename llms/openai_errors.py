"""Typed, one-line errors for OpenAI-compatible servers (`llms.openai_translate` makes them from the SDK's).

Every message names the URL (and HTTP status) and says what to do; none contains the API key: each passes
through `llms.redact` (the configured key, the key the failing request carried, header values, URL userinfo and
secret query values, ``sk-...``-shaped tokens), so a server that echoes the request back cannot leak it.

>>> str(BackendUnreachableError("cannot reach http://127.0.0.1:9/v1", url="http://127.0.0.1:9/v1"))
'cannot reach http://127.0.0.1:9/v1'
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

from core.errors import RecipesError
from core.text import one_line as fold
from llms.redact import redact

__all__ = [
    "BASE_URL_HINT",
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
    "Secrets",
    "clean_url",
    "deadline_error",
    "one_line",
    "secret_list",
]

# The usual cause of an answer that is not the API's: a base URL without its /v1.
BASE_URL_HINT = "is --base-url right? It usually ends in /v1"


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


def secret_list(secret: Secrets) -> list[str | None]:
    """`secret` (one, several, or None) as a list, as `llms.redact.redact` takes it."""
    return [secret] if secret is None or isinstance(secret, str) else list(secret)


def one_line(text: str, secret: Secrets = None, limit: int = 160) -> str:
    """`text` redacted (`secret`: the API key, or several), then folded and cut by `core.text.one_line`.

    Redacted before it is cut, so a cut never shows part of a key.
    """
    return fold(redact(text, secret_list(secret)), limit=limit)


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

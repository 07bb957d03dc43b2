"""Where and how to call an OpenAI-compatible server: base URL, key (never printed), timeouts and the SDK's retries.

>>> conn = resolve_connection(ModelOptions(base_url="http://user:pw@127.0.0.1:8000/v1/?key=k"))
>>> conn.base_url, conn.basic_auth, conn.query, conn.max_retries
('http://127.0.0.1:8000/v1', ('user', 'pw'), (('key', 'k'),), 2)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

import openai

from llms.openai_errors import BackendAuthError, BackendConfigError
from llms.options import ModelOptions
from llms.redact import redact

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT_S",
    "DEFAULT_DEADLINE_S",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_READ_TIMEOUT_S",
    "DUMMY_KEY",
    "OPENAI_BASE_URL",
    "Connection",
    "is_openai_url",
    "resolve_connection",
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


def is_openai_url(url: str | None) -> bool:
    """Whether `url` (None: the default) is OpenAI's own API rather than an OpenAI-compatible server."""
    return urlsplit(url or OPENAI_BASE_URL).hostname == "api.openai.com"


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
        return is_openai_url(self.base_url)


def resolve_connection(opts: ModelOptions) -> Connection:
    """base_url from opts or ``OPENAI_BASE_URL``; key from opts or ``OPENAI_API_KEY`` (else a dummy key)."""
    base_url, basic_auth, query = _split_base_url(opts.base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_BASE_URL)
    key = opts.api_key or os.environ.get("OPENAI_API_KEY") or ""
    if not key:
        if is_openai_url(base_url):
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

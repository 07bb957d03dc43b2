"""One redaction layer for everything a user sees: error lines, server-echoed bodies, `--debug` tracebacks.

Masks, with ``***``: the configured key wherever it appears (and any other secret passed in), header values
(``Authorization: Bearer ...``, ``api-key``, ``x-api-key``, ...), secret URL query values (``key=``,
``api_key=``, ``token=``, ...), URL userinfo (``https://user:pw@host``), and key-shaped tokens (``sk-...``)
even when nobody said they were secret. Stdlib only, so it works while the rest of the program is broken.

>>> redact("Authorization: Bearer abc.def-123")
'Authorization: Bearer ***'
>>> redact("GET https://user:pw@host:8000/v1/models?key=abc&limit=5")
'GET https://***@host:8000/v1/models?key=***&limit=5'
>>> redact("{'api-key': 'k-42', 'model': 'm'}")
"{'api-key': '***', 'model': 'm'}"
>>> redact("you sent sk-proj-0123456789")
'you sent sk-***'
>>> redact("the key is hunter2!", ["hunter2!"])
'the key is ***'
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import traceback
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

__all__ = ["MASK", "env_secrets", "format_exception", "known_secrets", "redact", "request_secrets", "secrets_of"]

MASK = "***"
MIN_SECRET_LEN = 4  # shorter "secrets" would mask ordinary words
# Environment variables whose values are secrets: OPENAI_API_KEY, HF_TOKEN, ANTHROPIC_API_KEY, ...
_SECRET_ENV = re.compile(r"(?:^|_)(?:API_?KEY|TOKEN|SECRET|PASSWORD|ACCESS_KEY)$", re.IGNORECASE)
_SECRET_HEADERS = ("authorization", "proxy-authorization", "api-key", "x-api-key", "x-goog-api-key")

# `name: value`, `name=value`, `"name": "value"` for header / field names that hold secrets.
_NAMED = re.compile(
    r"""(?ix)
    ( (?<![\w-])(?:proxy-)?authorization | [\w-]*api[-_]?key | (?<![\w-])(?:access|refresh|auth|bearer)[-_]?token
      | (?<![\w-])(?:client[-_])?secret | (?<![\w-])passw(?:or)?d | (?<![\w-])token )
    ( ["']? \s* [:=] \s* ["']? )
    ( (?:bearer|basic|token|digest) \s+ )?
    (?!\*\*\*)  # masked already (by the query rule)
    ( [^\s"',;&<>}\]]+ )
    """
)
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{4,}")
_BASIC = re.compile(r"\b(Basic)\s+[A-Za-z0-9+/]{6,}={0,2}")
_QUERY = re.compile(
    r"(?i)([?&;](?:key|api[-_]?key|apikey|token|access[-_]?token|auth|sig|signature|secret|password|code)=)"
    r"[^&#\s\"'<>]+"
)
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/@'\"<>]+@")
# Key-shaped tokens: OpenAI/Anthropic-style sk-..., Hugging Face hf_..., GitHub ghp_/gho_/...
_KEY_SHAPED = re.compile(r"\b(sk-|hf_|gh[pousr]_)[A-Za-z0-9][A-Za-z0-9_-]{5,}")


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with every known secret and every secret-looking value masked (see the module doc)."""
    for secret in sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LEN}, key=len, reverse=True):
        text = text.replace(secret, MASK)
        quoted = quote(secret, safe="")
        if quoted != secret:
            text = text.replace(quoted, MASK)
    text = _USERINFO.sub(rf"\1{MASK}@", text)
    text = _QUERY.sub(rf"\1{MASK}", text)
    text = _NAMED.sub(lambda m: f"{m[1]}{m[2]}{m[3] or ''}{MASK}", text)
    text = _BEARER.sub(rf"\1 {MASK}", text)
    text = _BASIC.sub(rf"\1 {MASK}", text)
    return _KEY_SHAPED.sub(rf"\1{MASK}", text)


def env_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of secret-named environment variables (``OPENAI_API_KEY``, ``*_TOKEN``, ...)."""
    env = os.environ if environ is None else environ
    return [value for name, value in env.items() if _SECRET_ENV.search(name) and len(value) >= MIN_SECRET_LEN]


def _header_secrets(value: str) -> list[str]:
    scheme, _, token = value.strip().partition(" ")
    if not token:
        return [value.strip()]
    found = [token.strip()]
    if scheme.lower() == "basic":  # base64("user:password"): the password too, should a server echo it decoded
        try:
            user, _, password = base64.b64decode(token.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return found
        found += [password, f"{user}:{password}"]
    return found


def _url_secrets(url: object) -> list[str]:
    try:
        parts = urlsplit(str(url))
        password = parts.password
    except ValueError:
        return []
    found = [unquote(password)] if password else []
    secret_names = {"key", "api_key", "api-key", "apikey", "token", "access_token", "secret", "password", "sig"}
    found += [value for name, value in parse_qsl(parts.query) if name.lower() in secret_names]
    return found


def _request_of(exc: BaseException) -> Any:
    """The HTTP request an SDK/httpx exception carries, if any (httpx raises RuntimeError when it has none)."""
    for holder in (exc, getattr(exc, "response", None)):
        try:
            request = getattr(holder, "request", None)
        except RuntimeError:
            continue
        if request is not None:
            return request
    return None


def request_secrets(request: Any) -> list[str]:
    """The secrets an HTTP request (httpx's, or anything with ``headers`` and ``url``) carries: the values of its
    key headers (a Basic header's password too), its URL's password and secret query values."""
    if request is None:
        return []
    found: list[str] = []
    headers = getattr(request, "headers", None)
    if headers is not None:
        for name in _SECRET_HEADERS:
            try:
                value = headers.get(name)
            except (AttributeError, TypeError, ValueError):
                value = None
            if isinstance(value, str) and value:
                found += _header_secrets(value)
    found += _url_secrets(getattr(request, "url", ""))
    return [s for s in found if s and len(s) >= MIN_SECRET_LEN]


def secrets_of(exc: BaseException | None) -> list[str]:
    """Secrets an exception (and its causes) carries: the key in the failing request's headers, the password
    and secret query values of its URL, and anything listed in an ``exc.secrets`` attribute."""
    found: list[str] = []
    seen: set[int] = set()
    todo = [exc]
    while todo and len(seen) < 64:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        found += [s for s in getattr(current, "secrets", None) or () if isinstance(s, str)]
        found += request_secrets(_request_of(current))
        todo += [current.__cause__, current.__context__]
    return [s for s in found if s and len(s) >= MIN_SECRET_LEN]


def known_secrets(exc: BaseException | None = None, extra: Iterable[str | None] = ()) -> list[str]:
    """Everything to mask when printing `exc`: secret environment variables, what `exc` carries, and `extra`."""
    return [*env_secrets(), *secrets_of(exc), *(s for s in extra if s)]


def format_exception(exc: BaseException, secrets: Iterable[str | None] | None = None) -> str:
    """`exc`'s traceback (its causes too), as `traceback.print_exc` would print it, with secrets masked."""
    text = "".join(traceback.format_exception(exc))
    return redact(text, known_secrets(exc) if secrets is None else secrets)

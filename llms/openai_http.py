"""The httpx clients our OpenAI models hand the SDK: the SDK's own default clients (its timeouts, retries and
proxies from the environment), every transport wrapped in `llms.openai_transport`'s (one deadline per request,
retries and streaming included, and answers that are not OpenAI's recognised before the SDK misreads them).
"""

from __future__ import annotations

from typing import Any

import openai

from llms.openai_connection import Connection
from llms.openai_deadline import HTTPX
from llms.openai_transport import AsyncDeadlineTransport, DeadlineTransport

__all__ = ["async_http_client", "http_clients", "sync_http_client"]


def http_clients(conn: Connection) -> dict[str, Any]:
    """``http_client`` and ``http_async_client`` for `conn`, as LangChain's OpenAI classes take them."""
    return {"http_client": sync_http_client(conn), "http_async_client": async_http_client(conn)}


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
        options["auth"] = HTTPX.BasicAuth(*conn.basic_auth)
    return options


def sync_http_client(conn: Connection) -> Any:
    """The SDK's default sync client, every transport wrapped in `DeadlineTransport`."""
    client = openai.DefaultHttpxClient(**_client_options(conn))
    if _wrap_transports(client, lambda t: DeadlineTransport(t, conn.deadline)):
        return client
    inner = HTTPX.HTTPTransport(limits=HTTPX.Limits(max_connections=1000, max_keepalive_connections=100))
    return openai.DefaultHttpxClient(transport=DeadlineTransport(inner, conn.deadline), **_client_options(conn))


def async_http_client(conn: Connection) -> Any:
    """An async HTTP client without keep-alive, so one model works under any event loop; every transport
    wrapped in `AsyncDeadlineTransport`.

    A kept-alive connection belongs to the loop that opened it: a second ``asyncio.run(model.ainvoke(...))``
    would reuse it and fail with "Event loop is closed". One connection per async request avoids that.
    """
    limits = HTTPX.Limits(max_connections=100, max_keepalive_connections=0)
    client = openai.DefaultAsyncHttpxClient(limits=limits, **_client_options(conn))
    if _wrap_transports(client, lambda t: AsyncDeadlineTransport(t, conn.deadline)):
        return client
    transport = AsyncDeadlineTransport(HTTPX.AsyncHTTPTransport(limits=limits), conn.deadline)
    return openai.DefaultAsyncHttpxClient(transport=transport, **_client_options(conn))



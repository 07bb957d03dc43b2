"""OpenAI and OpenAI-compatible servers (vLLM, llama.cpp, Ollama, `transformers serve`) as LangChain models.

Failures surface as one-line `llms.openai_errors.BackendError`s; retries happen only in the openai SDK.

>>> from llms.options import ModelOptions
>>> chat = openai_chat("my-model", ModelOptions(base_url="http://127.0.0.1:8000/v1", max_new_tokens=32))
>>> chat.max_tokens, chat.max_retries
(32, 2)
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from llms.openai_chat_model import RecipesChatOpenAI
from llms.openai_completions_model import RecipesOpenAI
from llms.openai_connection import Connection, resolve_connection
from llms.openai_http import http_clients
from llms.options import ModelOptions

__all__ = ["openai_chat", "openai_llm"]


def _client_kwargs(name: str, opts: ModelOptions) -> tuple[Connection, dict[str, Any]]:
    """What both model classes take: the connection (URL, key, timeouts, retries) and the shared options."""
    conn = resolve_connection(opts)
    common: dict[str, Any] = {
        "model": name,
        "base_url": conn.base_url,
        "api_key": SecretStr(conn.api_key),
        "timeout": conn.timeout,
        "max_retries": conn.max_retries,
        "temperature": opts.temperature,
        "seed": opts.seed,
        **http_clients(conn),
        "deadline_s": conn.deadline,
    }
    if conn.query:
        common["default_query"] = dict(conn.query)
    return conn, common


def openai_chat(name: str, opts: ModelOptions) -> RecipesChatOpenAI:
    """A chat model for `name` on OpenAI or the server at ``opts.base_url`` / ``OPENAI_BASE_URL``."""
    conn, common = _client_kwargs(name, opts)
    return RecipesChatOpenAI(
        **common,
        max_completion_tokens=opts.max_new_tokens,  # always: else transformers serve asks >= 1024 tokens
        stop_sequences=list(opts.stop) or None,
        stream_usage=True,
        legacy_max_tokens=not conn.is_openai,
        # Off: the total deadline bounds every stream, sync and async; LangChain's async-only per-chunk timer
        # would also catch our deadline's TimeoutError and re-raise it as its own "no chunk for 120 s".
        stream_chunk_timeout=None,
    )


def openai_llm(name: str, opts: ModelOptions) -> RecipesOpenAI:
    """A text-completion LLM (``/v1/completions``) for the classic LLMChain; same options as `openai_chat`."""
    _, common = _client_kwargs(name, opts)
    return RecipesOpenAI(
        **common,
        max_tokens=opts.max_new_tokens,
        model_kwargs={"stop": list(opts.stop)} if opts.stop else {},
    )

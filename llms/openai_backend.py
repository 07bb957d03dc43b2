"""OpenAI and OpenAI-compatible servers (vLLM, llama.cpp, Ollama, `transformers serve`) as LangChain models.

Failures surface as one-line `llms.openai_errors.BackendError`s; retries happen only in the openai SDK.

>>> from llms.options import ModelOptions
>>> chat = openai_chat("my-model", ModelOptions(base_url="http://127.0.0.1:8000/v1", max_new_tokens=32))
>>> chat.max_tokens, chat.max_retries
(32, 2)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

import openai
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult, GenerationChunk, LLMResult
from langchain_core.runnables import Runnable
from langchain_openai import ChatOpenAI, OpenAI
from pydantic import SecretStr, model_validator

from llms.capabilities import ModelCapabilities
from llms.errors import RecipesError
from llms.openai_errors import (
    BackendResponseError,
    clean_url,
    non_openai_body,
    one_line,
    translate_errors,
)
from llms.openai_http import (
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_DEADLINE_S,
    DEFAULT_MAX_RETRIES,
    DEFAULT_READ_TIMEOUT_S,
    OPENAI_BASE_URL,
    Connection,
    async_http_client,
    deadline_payload,
    resolve_connection,
    sync_http_client,
)
from llms.options import ModelOptions
from llms.stops import cut_at_stop, held_back

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT_S",
    "DEFAULT_DEADLINE_S",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_READ_TIMEOUT_S",
    "OPENAI_BASE_URL",
    "Connection",
    "RecipesChatOpenAI",
    "RecipesOpenAI",
    "openai_chat",
    "openai_llm",
    "resolve_connection",
]

def _secret_of(key: Any) -> str | None:
    return key.get_secret_value() if isinstance(key, SecretStr) else None


def _stops(call_stop: list[str] | None, default: list[str] | str | None) -> list[str]:
    stops = call_stop if call_stop is not None else default
    return [stops] if isinstance(stops, str) else list(stops or [])


def _not_a_completion(url: str, response: object, expected: str, secret: str | None) -> BackendResponseError:
    """The SDK handed over a str (it does for a non-JSON body): what came back, if our transport did not say."""
    body = str(response).encode()
    error = non_openai_body(url, 200, "", body, stream=False, expected=expected, secret=secret)
    return error or BackendResponseError(
        f"{url} answered HTTP 200 with {type(response).__name__} instead of {expected}; "
        "is --base-url right? It usually ends in /v1",
        url=url,
        status=200,
    )


def _no_events(url: str) -> BackendResponseError:
    return BackendResponseError(
        f"{url} answered a streaming call (HTTP 200) with no events; is --base-url right? It usually ends in /v1",
        url=url,
        status=200,
    )


class RecipesChatOpenAI(ChatOpenAI):
    """`ChatOpenAI` whose failures are typed `BackendError`s, whatever the call (invoke/stream/batch/ainvoke).

    One subclass, because every LangChain entry point funnels into these four methods; wrapping the Runnable
    instead would miss paths (e.g. streaming inside a chain). Also: sends ``max_tokens`` to non-OpenAI
    servers (llama.cpp ignores ``max_completion_tokens``) and trims a trailing stop string that some servers
    (transformers serve) leave in the text, so every backend honours ``stop`` the same way.
    """

    legacy_max_tokens: bool = False
    deadline_s: float | None = None
    """Seconds for the whole request (`timeout`), enforced by the HTTP client `openai_chat` builds; None: none."""

    @model_validator(mode="before")
    @classmethod
    def _our_http_clients(cls, values: Any) -> Any:
        """Built directly (``RecipesChatOpenAI(model=..., base_url=...)``, as LangChain's standard tests do), the
        class gets the same HTTP clients as `openai_chat` builds: LangChain's default async client keeps
        connections alive across event loops ("Event loop is closed" on a second ``asyncio.run``)."""
        if not isinstance(values, dict) or "http_client" in values or "http_async_client" in values:
            return values
        key = values.get("api_key") or values.get("openai_api_key")
        timeout = values.get("timeout", values.get("request_timeout"))
        try:
            conn = resolve_connection(
                ModelOptions(
                    base_url=values.get("base_url") or values.get("openai_api_base"),
                    api_key=key.get_secret_value() if isinstance(key, SecretStr) else key,
                    timeout=timeout if isinstance(timeout, int | float) else None,
                    max_retries=values.get("max_retries"),
                )
            )
        except (ValueError, TypeError, RecipesError):
            return values  # LangChain's own validation then says what is wrong
        return {
            **values,
            "http_client": sync_http_client(conn),
            "http_async_client": async_http_client(conn),
            "deadline_s": values.get("deadline_s", conn.deadline),
        }

    @classmethod
    def is_lc_serializable(cls) -> bool:
        # Our subclass is not in LangChain's loadable namespaces: `load(dumpd(model))` could not rebuild it.
        return False

    @property
    def capabilities(self) -> ModelCapabilities:
        return ModelCapabilities(
            backend="openai", json_mode=True, max_tokens_option="max_tokens", url=self.openai_api_base
        )

    @property
    def _on_openai(self) -> bool:
        return urlsplit(self.openai_api_base or OPENAI_BASE_URL).hostname == "api.openai.com"

    def with_structured_output(  # type: ignore[override]
        self,
        schema: Any = None,
        *,
        method: str = "json_schema",
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, Any]:
        """Answers as `schema`. On api.openai.com LangChain's own (the server enforces the schema or calls a
        tool); on other OpenAI-compatible servers, which may ignore `response_format` and tools (transformers
        serve does), the schema is also put in the prompt, validated, and re-asked (`llms.structured`)."""
        if self._on_openai and method in ("json_schema", "function_calling") and schema is not None:
            return super().with_structured_output(
                schema, method=method, include_raw=include_raw, strict=strict, **kwargs  # type: ignore[arg-type]
            )
        from llms.structured import structured_output

        return structured_output(self, schema, include_raw=include_raw, method=method, strict=strict, **kwargs)

    @property
    def _endpoint(self) -> str:
        return clean_url(f"{(self.openai_api_base or OPENAI_BASE_URL).rstrip('/')}/chat/completions")

    def _translate(self) -> Any:
        return translate_errors(self._endpoint, secret=_secret_of(self.openai_api_key))

    def _get_request_payload(
        self, input_: LanguageModelInput, *, stop: list[str] | None = None, **kwargs: Any
    ) -> dict[Any, Any]:
        payload = super()._get_request_payload(input_, stop=stop, **kwargs)
        if self.legacy_max_tokens and "max_completion_tokens" in payload:
            payload["max_tokens"] = payload.pop("max_completion_tokens")
        return deadline_payload(payload, self.deadline_s)  # built once per call: its retries share the deadline

    def _create_chat_result(self, response: Any, generation_info: dict[Any, Any] | None = None) -> ChatResult:
        # Check the shape here, the one place every non-streaming answer passes, before LangChain indexes it.
        url = self._endpoint
        if not isinstance(response, dict | openai.BaseModel):
            raise _not_a_completion(url, response, "a chat completion", _secret_of(self.openai_api_key))
        data = response if isinstance(response, dict) else response.model_dump(warnings=False)
        if data.get("error"):
            detail = one_line(str(data["error"]), _secret_of(self.openai_api_key), limit=120)
            raise BackendResponseError(f"{url} answered HTTP 200 with an error: {detail}", url=url)
        choices = data.get("choices") or []
        message = (choices[0].get("message") or {}) if choices else {}
        if not choices or (
            message.get("content") is None and not message.get("tool_calls") and not message.get("refusal")
        ):
            what = "no choices" if not choices else "no content"
            raise BackendResponseError(f"{url} sent a completion with {what}; check its log", url=url)
        return super()._create_chat_result(response, generation_info)

    def _trimmed(self, result: ChatResult, stop: list[str] | None) -> ChatResult:
        stops, generations = _stops(stop, self.stop), []
        for gen in result.generations:
            content = gen.message.content
            stopped = (gen.generation_info or {}).get("finish_reason") == "stop"
            if stops and stopped and isinstance(content, str):
                message = gen.message.model_copy(update={"content": cut_at_stop(content, stops)[0]})
                gen = ChatGeneration(message=message, generation_info=gen.generation_info)
            generations.append(gen)
        return ChatResult(generations=generations, llm_output=result.llm_output)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        with self._translate():
            result = super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)
        return self._trimmed(result, stop)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        with self._translate():
            result = await super()._agenerate(messages, stop=stop, run_manager=run_manager, **kwargs)
        return self._trimmed(result, stop)

    def _no_events(self) -> BackendResponseError:
        return _no_events(self._endpoint)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        trimmer = _StopTrimmer(_stops(stop, self.stop))
        with self._translate():
            for chunk in super()._stream(messages, stop=stop, run_manager=run_manager, **kwargs):
                yield trimmer.feed(chunk)
            if trimmer.seen == 0:
                raise self._no_events()
        if trimmer.pending:
            yield trimmer.flush()

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        trimmer = _StopTrimmer(_stops(stop, self.stop))
        with self._translate():
            async for chunk in super()._astream(messages, stop=stop, run_manager=run_manager, **kwargs):
                yield trimmer.feed(chunk)
            if trimmer.seen == 0:
                raise self._no_events()
        if trimmer.pending:
            yield trimmer.flush()


class _StopTrimmer:
    """Streams text minus any stop string: holds back a tail that could still become one, drops it if it does.

    Callbacks (on_llm_new_token) have already seen the untrimmed pieces; the yielded chunks are trimmed.
    """

    def __init__(self, stops: list[str]) -> None:
        self.stops, self.pending, self.stopped, self.seen = stops, "", False, 0

    def feed(self, chunk: ChatGenerationChunk) -> ChatGenerationChunk:
        self.seen += 1
        content = chunk.message.content
        if not self.stops or not isinstance(content, str) or (not content and not self.pending):
            return chunk
        if self.stopped:
            return _with_text(chunk, "")
        text, self.stopped = cut_at_stop(self.pending + content, self.stops)
        final = bool((chunk.generation_info or {}).get("finish_reason"))
        keep = len(text) if self.stopped or final else len(text) - held_back(text, self.stops)
        self.pending = text[keep:]
        return _with_text(chunk, text[:keep])

    def flush(self) -> ChatGenerationChunk:
        text, self.pending = self.pending, ""
        return ChatGenerationChunk(message=AIMessageChunk(content=text))


def _with_text(chunk: ChatGenerationChunk, text: str) -> ChatGenerationChunk:
    message = chunk.message.model_copy(update={"content": text})
    return ChatGenerationChunk(message=message, generation_info=chunk.generation_info)


class _OnePromptCompletions:
    """The SDK's ``completions`` resource, sending each prompt as a string and checking the answer's shape.

    Why: LangChain's `OpenAI` sends ``prompt=[...]`` (a list, which OpenAI accepts); transformers serve
    answers 400 "prompt must be a string.". With batch_size=1 each request holds one prompt, sent as a string.
    """

    def __init__(self, resource: Any, url: str, deadline_s: float | None = None) -> None:
        self._resource, self._url, self._deadline_s = resource, url, deadline_s

    def __getattr__(self, name: str) -> Any:  # anything else LangChain may use: the SDK resource's own
        return getattr(self._resource, name)

    def _prompt(self, prompt: Any) -> Any:
        if isinstance(prompt, list):
            if len(prompt) != 1:
                raise ValueError(f"expected one prompt per request, got {len(prompt)}")
            return prompt[0]
        return prompt

    def _check(self, response: Any, stream: bool) -> Any:
        if stream:
            return response
        if not isinstance(response, dict | openai.BaseModel):
            raise _not_a_completion(self._url, response, "a completion", None)
        data = response if isinstance(response, dict) else response.model_dump()
        if not data.get("choices"):
            raise BackendResponseError(f"{self._url} sent a completion with no choices", url=self._url)
        return response

    def create(self, *, prompt: Any, **kwargs: Any) -> Any:
        kwargs = deadline_payload(kwargs, self._deadline_s)
        response = self._resource.create(prompt=self._prompt(prompt), **kwargs)
        return self._check(response, bool(kwargs.get("stream")))


class _AsyncOnePromptCompletions(_OnePromptCompletions):
    async def create(self, *, prompt: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs = deadline_payload(kwargs, self._deadline_s)
        response = await self._resource.create(prompt=self._prompt(prompt), **kwargs)
        return self._check(response, bool(kwargs.get("stream")))


class RecipesOpenAI(OpenAI):
    """`langchain_openai.OpenAI` (text completions) with typed errors and one string prompt per request."""

    batch_size: int = 1
    deadline_s: float | None = None
    """Seconds for the whole request (`timeout`), enforced by the HTTP client `openai_llm` builds; None: none."""

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return False  # as RecipesChatOpenAI: not in LangChain's loadable namespaces

    @property
    def capabilities(self) -> ModelCapabilities:
        return ModelCapabilities(backend="openai", max_tokens_option="max_tokens", url=self.openai_api_base)

    @model_validator(mode="after")
    def _one_prompt_per_request(self) -> RecipesOpenAI:
        self.batch_size = 1
        if not isinstance(self.client, _OnePromptCompletions):
            self.client = _OnePromptCompletions(self.client, self._endpoint, self.deadline_s)
        if not isinstance(self.async_client, _OnePromptCompletions):
            self.async_client = _AsyncOnePromptCompletions(self.async_client, self._endpoint, self.deadline_s)
        return self

    @property
    def _endpoint(self) -> str:
        return clean_url(f"{(self.openai_api_base or OPENAI_BASE_URL).rstrip('/')}/completions")

    def _translate(self) -> Any:
        return translate_errors(self._endpoint, secret=_secret_of(self.openai_api_key))

    def _generate(
        self, prompts: list[str], stop: list[str] | None = None, run_manager: Any = None, **kw: Any
    ) -> LLMResult:
        with self._translate():
            return super()._generate(prompts, stop=stop, run_manager=run_manager, **kw)

    async def _agenerate(
        self, prompts: list[str], stop: list[str] | None = None, run_manager: Any = None, **kw: Any
    ) -> LLMResult:
        with self._translate():
            return await super()._agenerate(prompts, stop=stop, run_manager=run_manager, **kw)

    def _stream(
        self, prompt: str, stop: list[str] | None = None, run_manager: Any = None, **kw: Any
    ) -> Iterator[GenerationChunk]:
        seen = 0
        with self._translate():
            for chunk in super()._stream(prompt, stop=stop, run_manager=run_manager, **kw):
                seen += 1
                yield chunk
        if not seen:  # else LangChain's bare "No generation chunks were returned"
            raise _no_events(self._endpoint)

    async def _astream(
        self, prompt: str, stop: list[str] | None = None, run_manager: Any = None, **kw: Any
    ) -> AsyncIterator[GenerationChunk]:
        seen = 0
        with self._translate():
            async for chunk in super()._astream(prompt, stop=stop, run_manager=run_manager, **kw):
                seen += 1
                yield chunk
        if not seen:
            raise _no_events(self._endpoint)


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
        "http_client": sync_http_client(conn),
        "http_async_client": async_http_client(conn),
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

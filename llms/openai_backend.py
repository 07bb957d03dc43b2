"""OpenAI and OpenAI-compatible servers (vLLM, llama.cpp, Ollama, `transformers serve`) as LangChain models.

Failures surface as one-line `llms.openai_errors.BackendError`s; retries happen only in the openai SDK.

>>> from llms.options import ModelOptions
>>> chat = openai_chat("my-model", ModelOptions(base_url="http://127.0.0.1:8000/v1", max_new_tokens=32))
>>> chat.max_tokens, chat.max_retries
(32, 2)
"""

from __future__ import annotations

import importlib
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import openai
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult, GenerationChunk, LLMResult
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_openai import ChatOpenAI, OpenAI
from pydantic import SecretStr, model_validator

from llms.openai_errors import (
    BackendAuthError,
    BackendConfigError,
    BackendResponseError,
    clean_url,
    one_line,
    translate_errors,
)
from llms.options import ModelOptions
from llms.stops import cut_at_stop, held_back

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT_S",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_READ_TIMEOUT_S",
    "OPENAI_BASE_URL",
    "STRUCTURED_METHODS",
    "Connection",
    "RecipesChatOpenAI",
    "RecipesOpenAI",
    "openai_chat",
    "openai_llm",
    "resolve_connection",
    "structured_openai",
]

OPENAI_BASE_URL = "https://api.openai.com/v1"
DEFAULT_CONNECT_TIMEOUT_S = 5.0
DEFAULT_READ_TIMEOUT_S = 60.0
DEFAULT_MAX_RETRIES = 2  # the SDK's own default: 3 attempts, then a typed error
MAX_RETRIES_LIMIT = 10
# Local servers don't check the key, but the SDK refuses to start without one.
DUMMY_KEY = "sk-no-key-needed"


@dataclass(frozen=True)
class Connection:
    """Where and how to call: base URL, key (never printed), timeouts and the SDK's retry budget."""

    base_url: str
    api_key: str
    timeout: openai.Timeout
    max_retries: int

    def __repr__(self) -> str:  # the dataclass repr would print the key
        return f"Connection(base_url={self.base_url!r}, max_retries={self.max_retries})"

    @property
    def is_openai(self) -> bool:
        return urlsplit(self.base_url).hostname == "api.openai.com"


def resolve_connection(opts: ModelOptions) -> Connection:
    """base_url from opts or ``OPENAI_BASE_URL``; key from opts or ``OPENAI_API_KEY`` (else a dummy key)."""
    base_url = (opts.base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_BASE_URL).rstrip("/")
    if urlsplit(base_url).scheme not in ("http", "https") or not urlsplit(base_url).hostname:
        raise BackendConfigError(f"base URL {clean_url(base_url)!r} must look like http://host:port/v1")
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
    return Connection(base_url, key, timeout, retries)


def _async_http_client(conn: Connection) -> Any:
    """An async HTTP client without keep-alive, so one model works under any event loop.

    A kept-alive connection belongs to the loop that opened it: a second ``asyncio.run(model.ainvoke(...))``
    would reuse it and fail with "Event loop is closed". One connection per async request avoids that.
    """
    # The SDK's own httpx flavour (httpx for openai<3, httpx2 for openai>=3), found without private imports.
    base = next(c for c in openai.DefaultAsyncHttpxClient.__mro__ if c.__name__ == "AsyncClient")
    httpx = importlib.import_module(base.__module__.partition(".")[0])
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=0)
    return openai.DefaultAsyncHttpxClient(timeout=conn.timeout, limits=limits)


def _check_options(opts: ModelOptions) -> None:
    # Options the OpenAI API has no field for: refuse rather than ignore them silently.
    if opts.repetition_penalty is not None:
        raise BackendConfigError("repetition_penalty is not an OpenAI API option; leave it unset for openai:")
    if opts.threads is not None:
        raise BackendConfigError("threads applies to local models only; leave it unset for openai:")


def _secret_of(key: Any) -> str | None:
    return key.get_secret_value() if isinstance(key, SecretStr) else None


def _stops(call_stop: list[str] | None, default: list[str] | str | None) -> list[str]:
    stops = call_stop if call_stop is not None else default
    return [stops] if isinstance(stops, str) else list(stops or [])


def _body_kind(response: object) -> str:
    text = str(response).lstrip()[:20].lower()
    return "an HTML page" if text.startswith(("<!doctype", "<html", "<")) else "a non-JSON body"


class RecipesChatOpenAI(ChatOpenAI):
    """`ChatOpenAI` whose failures are typed `BackendError`s, whatever the call (invoke/stream/batch/ainvoke).

    One subclass, because every LangChain entry point funnels into these four methods; wrapping the Runnable
    instead would miss paths (e.g. streaming inside a chain). Also: sends ``max_tokens`` to non-OpenAI
    servers (llama.cpp ignores ``max_completion_tokens``) and trims a trailing stop string that some servers
    (transformers serve) leave in the text, so every backend honours ``stop`` the same way.
    """

    legacy_max_tokens: bool = False

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
        return payload

    def _create_chat_result(self, response: Any, generation_info: dict[Any, Any] | None = None) -> ChatResult:
        # Check the shape here, the one place every non-streaming answer passes, before LangChain indexes it.
        url = self._endpoint
        if not isinstance(response, dict | openai.BaseModel):
            raise BackendResponseError(
                f"{url} sent HTTP 200 with {_body_kind(response)} instead of a chat completion; "
                "check --base-url points at an OpenAI-compatible /v1 endpoint",
                url=url,
                status=200,
            )
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
        url = self._endpoint
        return BackendResponseError(
            f"{url} sent HTTP 200 but no stream events; check --base-url points at an OpenAI-compatible /v1 endpoint",
            url=url,
            status=200,
        )

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

    def __init__(self, resource: Any, url: str) -> None:
        self._resource, self._url = resource, url

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
            raise BackendResponseError(
                f"{self._url} sent HTTP 200 with {_body_kind(response)} instead of a completion; "
                "check --base-url points at an OpenAI-compatible /v1 endpoint",
                url=self._url,
                status=200,
            )
        data = response if isinstance(response, dict) else response.model_dump()
        if not data.get("choices"):
            raise BackendResponseError(f"{self._url} sent a completion with no choices", url=self._url)
        return response

    def create(self, *, prompt: Any, **kwargs: Any) -> Any:
        response = self._resource.create(prompt=self._prompt(prompt), **kwargs)
        return self._check(response, bool(kwargs.get("stream")))


class _AsyncOnePromptCompletions(_OnePromptCompletions):
    async def create(self, *, prompt: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        response = await self._resource.create(prompt=self._prompt(prompt), **kwargs)
        return self._check(response, bool(kwargs.get("stream")))


class RecipesOpenAI(OpenAI):
    """`langchain_openai.OpenAI` (text completions) with typed errors and one string prompt per request."""

    batch_size: int = 1

    @model_validator(mode="after")
    def _one_prompt_per_request(self) -> RecipesOpenAI:
        self.batch_size = 1
        if not isinstance(self.client, _OnePromptCompletions):
            self.client = _OnePromptCompletions(self.client, self._endpoint)
        if not isinstance(self.async_client, _OnePromptCompletions):
            self.async_client = _AsyncOnePromptCompletions(self.async_client, self._endpoint)
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
        with self._translate():
            yield from super()._stream(prompt, stop=stop, run_manager=run_manager, **kw)

    async def _astream(
        self, prompt: str, stop: list[str] | None = None, run_manager: Any = None, **kw: Any
    ) -> AsyncIterator[GenerationChunk]:
        with self._translate():
            async for chunk in super()._astream(prompt, stop=stop, run_manager=run_manager, **kw):
                yield chunk


def _client_kwargs(name: str, opts: ModelOptions) -> tuple[Connection, dict[str, Any]]:
    """What both model classes take: the connection (URL, key, timeouts, retries) and the shared options."""
    _check_options(opts)
    conn = resolve_connection(opts)
    return conn, {
        "model": name,
        "base_url": conn.base_url,
        "api_key": SecretStr(conn.api_key),
        "timeout": conn.timeout,
        "max_retries": conn.max_retries,
        "temperature": opts.temperature,
        "seed": opts.seed,
        "http_async_client": _async_http_client(conn),
    }


def openai_chat(name: str, opts: ModelOptions) -> RecipesChatOpenAI:
    """A chat model for `name` on OpenAI or the server at ``opts.base_url`` / ``OPENAI_BASE_URL``."""
    conn, common = _client_kwargs(name, opts)
    return RecipesChatOpenAI(
        **common,
        max_completion_tokens=opts.max_new_tokens,  # always: else transformers serve asks >= 1024 tokens
        stop_sequences=list(opts.stop) or None,
        stream_usage=True,
        legacy_max_tokens=not conn.is_openai,
    )


def openai_llm(name: str, opts: ModelOptions) -> RecipesOpenAI:
    """A text-completion LLM (``/v1/completions``) for the classic LLMChain; same options as `openai_chat`."""
    _, common = _client_kwargs(name, opts)
    return RecipesOpenAI(
        **common,
        max_tokens=opts.max_new_tokens,
        model_kwargs={"stop": list(opts.stop)} if opts.stop else {},
    )


STRUCTURED_METHODS = ("json_mode", "json_schema", "prompt")


def structured_openai(
    model: BaseChatModel, schema: Any = None, *, method: str = "json_mode", max_attempts: int = 2
) -> Runnable[Any, Any]:
    """A Runnable: model input -> the parsed JSON value (a `schema` instance for a pydantic class).

    method="json_schema": the server enforces the schema (OpenAI, vLLM): LangChain's with_structured_output.
    method="json_mode" (default): ask for a JSON object (``response_format``, which transformers serve
    ignores silently), parse with `parsers.JsonParser`, re-ask on a parse error, `max_attempts` calls at most.
    method="prompt": the same without ``response_format``, for servers that reject it. The prompt must ask
    for JSON (OpenAI's JSON mode answers 400 otherwise). Failures are the parsers' typed errors (with
    ``.attempts``); finish_reason=length gives `parsers.TruncatedOutputError`.

    >>> from llms.fake import FakeChatModel
    >>> structured_openai(FakeChatModel(responses=["no", '{"a": 1}'])).invoke("JSON please")
    {'a': 1}
    """
    from parsers import JsonParser, with_reask  # lazy: parsers imports llms

    if method not in STRUCTURED_METHODS:
        raise BackendConfigError(f"unknown structured method {method!r}; use one of {', '.join(STRUCTURED_METHODS)}")
    if method == "json_schema":
        if schema is None:
            raise BackendConfigError("method='json_schema' needs a schema")
        return model.with_structured_output(schema, method="json_schema")
    bound: Runnable[Any, Any] = model.bind(response_format={"type": "json_object"}) if method == "json_mode" else model
    return with_reask(bound, JsonParser(schema=schema), max_attempts=max_attempts) | RunnableLambda(_reask_value)


def _reask_value(result: Any) -> Any:
    return result.value

"""`RecipesChatOpenAI`: LangChain's `ChatOpenAI` with typed one-line errors, one deadline per call, ``stop``
honoured the same way on every server, and structured output that works where the server ignores schemas."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import AIMessageChunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_openai import ChatOpenAI
from pydantic import SecretStr, model_validator

from core.errors import RecipesError
from llms.capabilities import ModelCapabilities
from llms.openai_connection import is_openai_url, resolve_connection
from llms.openai_deadline import deadline_payload
from llms.openai_errors import BackendResponseError, one_line
from llms.openai_http import http_clients
from llms.openai_responses import completion_data, require_aevents, require_events
from llms.openai_shared import OpenAIEndpoint
from llms.options import ModelOptions
from llms.signatures import ARun, Messages, Run, Stop
from llms.stops import cut_at_stop, held_back

__all__ = ["RecipesChatOpenAI"]


def _stops(call_stop: list[str] | None, default: list[str] | str | None) -> list[str]:
    stops = call_stop if call_stop is not None else default
    return [stops] if isinstance(stops, str) else list(stops or [])


class RecipesChatOpenAI(OpenAIEndpoint, ChatOpenAI):
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
        return {**values, **http_clients(conn), "deadline_s": values.get("deadline_s", conn.deadline)}

    @property
    def capabilities(self) -> ModelCapabilities:
        return ModelCapabilities(
            backend="openai", json_mode=True, max_tokens_option="max_tokens", url=self.openai_api_base
        )

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
        if is_openai_url(self.openai_api_base) and method in ("json_schema", "function_calling") and schema is not None:
            return super().with_structured_output(
                schema, method=method, include_raw=include_raw, strict=strict, **kwargs  # type: ignore[arg-type]
            )
        from llms.structured import structured_output

        return structured_output(self, schema, include_raw=include_raw, method=method, strict=strict, **kwargs)

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
        data = completion_data(response, url, "a chat completion", self._secret)
        if data.get("error"):
            detail = one_line(str(data["error"]), self._secret, limit=120)
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

    def _generate(self, messages: Messages, stop: Stop = None, run_manager: Run = None, **kwargs: Any) -> ChatResult:
        with self._translate():
            result = super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)
        return self._trimmed(result, stop)

    async def _agenerate(
        self, messages: Messages, stop: Stop = None, run_manager: ARun = None, **kwargs: Any
    ) -> ChatResult:
        with self._translate():
            result = await super()._agenerate(messages, stop=stop, run_manager=run_manager, **kwargs)
        return self._trimmed(result, stop)

    def _stream(
        self, messages: Messages, stop: Stop = None, run_manager: Run = None, **kwargs: Any
    ) -> Iterator[ChatGenerationChunk]:
        trimmer = _StopTrimmer(_stops(stop, self.stop))
        chunks = super()._stream(messages, stop=stop, run_manager=run_manager, **kwargs)
        with self._translate():
            for chunk in require_events(chunks, self._endpoint):
                yield trimmer.feed(chunk)
        if trimmer.pending:
            yield trimmer.flush()

    async def _astream(
        self, messages: Messages, stop: Stop = None, run_manager: ARun = None, **kwargs: Any
    ) -> AsyncIterator[ChatGenerationChunk]:
        trimmer = _StopTrimmer(_stops(stop, self.stop))
        chunks = super()._astream(messages, stop=stop, run_manager=run_manager, **kwargs)
        with self._translate():
            async for chunk in require_aevents(chunks, self._endpoint):
                yield trimmer.feed(chunk)
        if trimmer.pending:
            yield trimmer.flush()


class _StopTrimmer:
    """Streams text minus any stop string: holds back a tail that could still become one, drops it if it does.

    Callbacks (on_llm_new_token) have already seen the untrimmed pieces; the yielded chunks are trimmed.
    """

    def __init__(self, stops: list[str]) -> None:
        self.stops, self.pending, self.stopped = stops, "", False

    def feed(self, chunk: ChatGenerationChunk) -> ChatGenerationChunk:
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


"""Local models as LangChain Runnables: one `LocalChatModel` (a `BaseChatModel`) and one `LocalLLM` (a `BaseLLM`)
over any `llms.engines.base.Engine`.

Why not langchain-huggingface's `ChatHuggingFace` / `HuggingFacePipeline`: stock (1.2.x) returns the prompt with
the answer, ignores stop strings, needs a chat template (GPT-Neo has none), batches chat prompts one `generate` at
a time, raises for `ainvoke`, ignores `response_format`, and is tied to a transformers pipeline; a second engine
(onnxruntime-genai) could not plug in. So we build on LangChain's base classes here, in one place.

>>> from llms import load_model
>>> model = load_model("local", max_new_tokens=16)                            # doctest: +SKIP
>>> model.bind(response_format={"type": "json_object"}).invoke("Capital of France as JSON?").text  # doctest: +SKIP
'{"capital":"Paris"}'
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from langchain_core.caches import BaseCache
from langchain_core.callbacks import (
    CallbackManager,
)
from langchain_core.globals import get_llm_cache
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.chat_models import _format_ls_structured_output
from langchain_core.load import dumps
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import (
    ChatGeneration,
    ChatGenerationChunk,
    ChatResult,
    LLMResult,
)
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import get_config_list, run_in_executor

from llms.engines.base import Completion, GenerationOptions
from llms.local_common import LocalModelMixin, message_dicts, stream_chunks, usage
from llms.local_llm import LocalLLM
from llms.signatures import Messages, Run, Stop
from llms.structured_mixin import StructuredByCapabilities

__all__ = ["LocalChatModel", "LocalLLM", "message_dicts"]

class LocalChatModel(LocalModelMixin, StructuredByCapabilities, BaseChatModel):  # type: ignore[misc]
    """A chat model over a local engine: chat template (or plain turns), stops, one engine call per `.batch()`."""

    streaming: bool = False
    """Accepted for LangChain compatibility: `invoke` streams internally when True (same answer)."""

    @property
    def _llm_type(self) -> str:
        return "chain-recipes-local-chat"

    def _prompt(self, messages: list[BaseMessage]) -> str:
        return self.engine.format_chat(message_dicts(messages))

    def _options(self, stop: list[str] | None, kwargs: dict[str, Any]) -> GenerationOptions:
        return self.generation_options(stop, kwargs, self.engine.chat_stops)

    def _message(self, c: Completion) -> AIMessage:
        return AIMessage(
            content=c.text,
            response_metadata={"finish_reason": c.finish_reason, "model_name": self.model_name},
            usage_metadata=usage(c),
        )

    def _generate(self, messages: Messages, stop: Stop = None, run_manager: Run = None, **kwargs: Any) -> ChatResult:
        (done,) = self.engine.generate([self._prompt(messages)], self._options(stop, kwargs))
        return ChatResult(generations=[ChatGeneration(message=self._message(done))])

    def _stream(
        self, messages: Messages, stop: Stop = None, run_manager: Run = None, **kwargs: Any
    ) -> Iterator[ChatGenerationChunk]:
        pieces = self.engine.stream(self._prompt(messages), self._options(stop, kwargs))
        yield from stream_chunks(pieces, _text_chunk, self._last_chunk, run_manager)

    def _last_chunk(self, c: Completion) -> ChatGenerationChunk:
        meta = {"finish_reason": c.finish_reason, "model_name": self.model_name}
        last = AIMessageChunk(content="", response_metadata=meta, usage_metadata=usage(c), chunk_position="last")
        return ChatGenerationChunk(message=last)

    def batch(
        self,
        inputs: list[LanguageModelInput],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[AIMessage]:  # type: ignore[override]
        """One engine call (one batched `generate`) for all inputs, with callbacks per input; stock runs one
        call per input in threads (measured 1.0x). With a cache (per model or global), hits are answered from it
        and only the misses go to the engine, as LangChain's own path does."""
        if len(inputs) < 2:
            return super().batch(inputs, config, return_exceptions=return_exceptions, **kwargs)  # type: ignore[return-value]
        configs = get_config_list(config, len(inputs))
        message_lists = [self._convert_input(x).to_messages() for x in inputs]
        stop = kwargs.pop("stop", None)
        structured = _format_ls_structured_output(
            kwargs.pop("ls_structured_output_format", None) or kwargs.pop("structured_output_format", None)
        )
        managers = []
        for cfg, messages in zip(configs, message_lists, strict=True):
            callback_manager = CallbackManager.configure(
                cfg.get("callbacks"),
                self.callbacks,
                self.verbose,
                cfg.get("tags"),
                self.tags,
                {**(cfg.get("metadata") or {}), **self._get_ls_params(stop=stop, **kwargs)},
                self.metadata,
            )
            (manager,) = callback_manager.on_chat_model_start(
                self._serialized,
                [messages],
                invocation_params=self._get_invocation_params(stop=stop, **kwargs),
                options={"stop": stop, **kwargs, **structured},
                name=cfg.get("run_name"),
                run_id=cfg.get("run_id"),
                batch_size=len(inputs),
            )
            managers.append(manager)
        cache = self._batch_cache()
        keys = [self._cache_key(m, stop, kwargs) for m in message_lists] if cache else []
        hits: dict[int, AIMessage] = {}
        for i, (prompt_key, llm_string) in enumerate(keys):
            cached = cache.lookup(prompt_key, llm_string) if cache else None
            if isinstance(cached, list) and cached:
                hits[i] = self._convert_cached_generations(cached)[0].message  # type: ignore[assignment]
        misses = [i for i in range(len(inputs)) if i not in hits]
        try:
            prompts = [self._prompt(message_lists[i]) for i in misses]
            done = dict(zip(misses, self.engine.generate(prompts, self._options(stop, kwargs)), strict=True))
        except Exception as exc:
            for manager in managers:
                manager.on_llm_error(exc)
            if return_exceptions:
                return [exc] * len(inputs)  # type: ignore[list-item]
            raise
        messages_out: list[AIMessage] = []
        for i, manager in enumerate(managers):
            message = hits[i] if i in hits else self._message(done[i])
            generation = ChatGeneration(message=message)
            if cache and i not in hits:
                cache.update(*keys[i], [generation])
            manager.on_llm_end(LLMResult(generations=[[generation]]))
            messages_out.append(message)
        return messages_out

    def _batch_cache(self) -> BaseCache | None:
        # The same rule as BaseChatModel's own path: a per-model cache, else the global one unless cache=False.
        if isinstance(self.cache, BaseCache):
            return self.cache
        return get_llm_cache() if self.cache is not False else None

    def _cache_key(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> tuple[str, str]:
        normalized = [m.model_copy(update={"id": None}) if getattr(m, "id", None) else m for m in messages]
        return dumps(normalized), self._get_llm_string(stop=stop, **kwargs)

    async def abatch(
        self,
        inputs: list[LanguageModelInput],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[AIMessage]:  # type: ignore[override]
        return await run_in_executor(None, self.batch, inputs, config, return_exceptions=return_exceptions, **kwargs)


def _text_chunk(text: str) -> ChatGenerationChunk:
    return ChatGenerationChunk(message=AIMessageChunk(content=text))



"""Local Hugging Face models as LangChain Runnables: our fixes to langchain-huggingface, in one place.

Stock `HuggingFacePipeline` / `ChatHuggingFace` (1.2.x) return the prompt with the answer, ignore stop strings,
take generation options only per call, fail on tokenizers without a chat template (GPT-Neo), batch chat prompts
one `generate` at a time, and raise NotImplementedError for `ainvoke`. We subclass both so users keep the classes
they know, and route every generation through `HFEngine`, which gets those things right.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from functools import lru_cache
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManager,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, SystemMessage
from langchain_core.outputs import (
    ChatGeneration,
    ChatGenerationChunk,
    ChatResult,
    Generation,
    GenerationChunk,
    LLMResult,
)
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import get_config_list, run_in_executor
from langchain_huggingface import ChatHuggingFace, HuggingFacePipeline
from pydantic import Field

from llms.hf_engine import Completion, HFEngine
from llms.options import ModelOptions
from llms.registry import ModelSpec

__all__ = [
    "FALLBACK_STOP",
    "LocalChatModel",
    "LocalLLM",
    "fallback_chat_prompt",
    "local_chat_model",
    "local_llm",
]

# Chat prompt for tokenizers with no chat template (base models such as GPT-Neo): plain role turns.
#   System: {system}\n\nUser: {human}\nAssistant: {ai}\nUser: {human}\nAssistant:
# Generation stops before the model starts writing the next user turn itself.
FALLBACK_STOP = ("\nUser:",)


def fallback_chat_prompt(messages: Sequence[BaseMessage]) -> str:
    """Render messages as plain ``System:/User:/Assistant:`` turns, ending with an open assistant turn."""
    lines: list[str] = []
    for message in messages:
        if isinstance(message, SystemMessage):
            lines.append(f"System: {message.text}\n")
        elif isinstance(message, AIMessage):
            lines.append(f"Assistant: {message.text}")
        else:
            lines.append(f"User: {message.text}")
    return "\n".join(lines) + "\nAssistant:"


def _usage(c: Completion) -> dict[str, int]:
    return {
        "input_tokens": c.prompt_tokens,
        "output_tokens": c.completion_tokens,
        "total_tokens": c.prompt_tokens + c.completion_tokens,
    }


class LocalLLM(HuggingFacePipeline):
    """`HuggingFacePipeline` that returns only new text, honours stop strings and batches in one `generate`."""

    engine: Any = Field(default=None, exclude=True)
    max_new_tokens: int = 256
    temperature: float = 0.0
    seed: int | None = None
    repetition_penalty: float | None = None
    stop_sequences: list[str] = Field(default_factory=list)
    # Instruct models (the embedded SmolLM2) answer nothing to a raw prompt: wrap it as one user turn.
    wrap_in_chat_template: bool = False

    @property
    def _llm_type(self) -> str:
        return "recipes_huggingface_pipeline"

    def gen_kwargs(self, stop: list[str] | None, extra: dict[str, Any]) -> dict[str, Any]:
        """Generation options for one call: per-call values win over the instance's defaults."""
        stops = [*self.stop_sequences, *(stop or []), *extra.pop("extra_stops", [])]
        known = {"max_new_tokens", "temperature", "seed", "repetition_penalty", "logits_processors", "json_schema"}
        unknown = set(extra) - known
        if unknown:
            raise TypeError(f"unknown generation option(s): {', '.join(sorted(unknown))}")
        processors = list(extra.get("logits_processors", ()))
        if extra.get("json_schema") is not None:
            # Structured output (issue 5, llms/grammar.py): `json_schema=` (pydantic class, JSON-schema dict or
            # JsonGrammar) constrains decoding; a fresh processor per call keeps one grammar matcher per row.
            from llms.grammar_processor import grammar_processor

            processors.append(grammar_processor(self.engine, extra["json_schema"]))
        return {
            "max_new_tokens": extra.get("max_new_tokens", self.max_new_tokens),
            "temperature": extra.get("temperature", self.temperature),
            "seed": extra.get("seed", self.seed),
            "repetition_penalty": extra.get("repetition_penalty", self.repetition_penalty),
            "logits_processors": processors,
            "stop": list(dict.fromkeys(stops)),
        }

    def _wrap(self, prompt: str) -> str:
        if not self.wrap_in_chat_template:
            return prompt
        tokenizer = self.engine.tokenizer
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )

    def complete(self, prompts: list[str], stop: list[str] | None = None, **kwargs: Any) -> list[Completion]:
        """Run prompts (already formatted) through the engine in one batch."""
        return self.engine.generate(prompts, **self.gen_kwargs(stop, dict(kwargs)))

    def _generate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        done = self.complete([self._wrap(p) for p in prompts], stop, **kwargs)
        generations = [
            [Generation(text=c.text, generation_info={"finish_reason": c.finish_reason, "usage": _usage(c)})]
            for c in done
        ]
        return LLMResult(generations=generations, llm_output={"model_name": self.model_id})

    def _stream(
        self,
        prompt: str,
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[GenerationChunk]:
        for piece in self.engine.stream(self._wrap(prompt), **self.gen_kwargs(stop, dict(kwargs))):
            if isinstance(piece, Completion):
                info = {
                    "finish_reason": piece.finish_reason,
                    "usage": _usage(piece),
                    "model_name": self.model_id,
                }
                yield GenerationChunk(text="", generation_info=info)
                continue
            chunk = GenerationChunk(text=piece)
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk


class LocalChatModel(ChatHuggingFace):
    """`ChatHuggingFace` over `LocalLLM`: fallback chat template, batched `.batch()`, async, usage metadata."""

    @property
    def _llm_type(self) -> str:
        return "recipes-chat-huggingface"

    @property
    def local(self) -> LocalLLM:
        return self.llm  # type: ignore[return-value]

    def with_structured_output(  # type: ignore[override]
        self, schema: Any = None, *, include_raw: bool = False, method: str = "grammar", **kwargs: Any
    ) -> Runnable[LanguageModelInput, Any]:
        """Answers as `schema` (pydantic class or JSON-schema dict) by grammar-constrained decoding (issue 5).

        Stock binds a `response_format` that local generation ignores; see `llms.structured.structured_output`.
        """
        from llms.structured import structured_output

        return structured_output(self, schema, include_raw=include_raw, method=method, **kwargs)

    def _to_chat_prompt(self, messages: list[BaseMessage]) -> str:
        if not messages:
            raise ValueError("a chat model needs at least one message")
        if getattr(self.tokenizer, "chat_template", None):
            dicts = [self._to_chatml_format(m) for m in messages]
            return self.tokenizer.apply_chat_template(dicts, tokenize=False, add_generation_prompt=True)
        return fallback_chat_prompt(messages)

    def _stops(self, stop: list[str] | None) -> list[str]:
        extra = [] if getattr(self.tokenizer, "chat_template", None) else list(FALLBACK_STOP)
        return [*(stop or []), *extra]

    def _message(self, c: Completion) -> AIMessage:
        return AIMessage(
            content=c.text,
            response_metadata={"finish_reason": c.finish_reason, "model_name": self.model_id},
            usage_metadata=_usage(c),  # type: ignore[arg-type]
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        stream: bool | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        (done,) = self.local.complete([self._to_chat_prompt(messages)], self._stops(stop), **kwargs)
        return ChatResult(generations=[ChatGeneration(message=self._message(done))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        *,
        stream_usage: bool | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        options = self.local.gen_kwargs(self._stops(stop), dict(kwargs))
        for piece in self.local.engine.stream(self._to_chat_prompt(messages), **options):
            if isinstance(piece, Completion):
                final = AIMessageChunk(
                    content="",
                    response_metadata={"finish_reason": piece.finish_reason, "model_name": self.model_id},
                    usage_metadata=_usage(piece),  # type: ignore[arg-type]
                )
                yield ChatGenerationChunk(message=final)
                continue
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        stream: bool | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        # Stock raises NotImplementedError for pipelines; generation is CPU-bound, so run it in a worker thread.
        sync_manager = run_manager.get_sync() if run_manager else None
        return await run_in_executor(None, self._generate, messages, stop, sync_manager, **kwargs)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        *,
        stream_usage: bool | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        # Stock uses an inference-server client; BaseChatModel's default drives our _stream from a thread.
        async for chunk in BaseChatModel._astream(self, messages, stop, run_manager, **kwargs):
            yield chunk

    def batch(
        self,
        inputs: list[LanguageModelInput],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[AIMessage]:  # type: ignore[override]
        """One batched `generate` (left padding) for all inputs; stock runs one `generate` per input."""
        if len(inputs) < 2:
            return super().batch(inputs, config, return_exceptions=return_exceptions, **kwargs)  # type: ignore[return-value]
        configs = get_config_list(config, len(inputs))
        message_lists = [self._convert_input(x).to_messages() for x in inputs]
        stop = kwargs.pop("stop", None)
        managers = []
        for cfg, messages in zip(configs, message_lists, strict=True):
            callback_manager = CallbackManager.configure(
                cfg.get("callbacks"),
                self.callbacks,
                self.verbose,
                cfg.get("tags"),
                self.tags,
                cfg.get("metadata"),
                self.metadata,
            )
            (manager,) = callback_manager.on_chat_model_start(
                self._serialized,
                [messages],
                invocation_params=self._get_invocation_params(stop=stop, **kwargs),
                name=cfg.get("run_name"),
                run_id=cfg.get("run_id"),
                batch_size=len(inputs),
            )
            managers.append(manager)
        try:
            prompts = [self._to_chat_prompt(m) for m in message_lists]
            done = self.local.complete(prompts, self._stops(stop), **kwargs)
        except Exception as exc:
            for manager in managers:
                manager.on_llm_error(exc)
            if return_exceptions:
                return [exc] * len(inputs)  # type: ignore[list-item]
            raise
        messages_out: list[AIMessage] = []
        for manager, completion in zip(managers, done, strict=True):
            message = self._message(completion)
            manager.on_llm_end(LLMResult(generations=[[ChatGeneration(message=message)]]))
            messages_out.append(message)
        return messages_out

    async def abatch(
        self,
        inputs: list[LanguageModelInput],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[AIMessage]:  # type: ignore[override]
        return await run_in_executor(
            None, self.batch, inputs, config, return_exceptions=return_exceptions, **kwargs
        )


@lru_cache(maxsize=4)
def _engine(source: str, local_only: bool, threads: int | None) -> HFEngine:
    """Load weights once per process; chat model and LLM for the same spec share them."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llms.options import default_threads

    torch.set_num_threads(threads or default_threads())
    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_only)
    model = AutoModelForCausalLM.from_pretrained(source, local_files_only=local_only, dtype=torch.float32)
    return HFEngine(model, tokenizer, name=source, threads=threads)


def _load(spec: ModelSpec, opts: ModelOptions) -> tuple[HFEngine, str]:
    if spec.provider == "local":
        from llms.embedded import EMBEDDED_NAME, prepare_embedded

        return _engine(str(prepare_embedded()), True, opts.threads), EMBEDDED_NAME
    from llms.hub import resolve_source

    source = resolve_source(spec.name)
    return _engine(source.name, source.local_only, opts.threads), spec.name


def _local_llm(opts: ModelOptions, engine: HFEngine, name: str, *, wrap: bool) -> LocalLLM:
    from transformers import pipeline

    return LocalLLM(
        pipeline=pipeline("text-generation", model=engine.model, tokenizer=engine.tokenizer),  # type: ignore[call-overload]
        model_id=name,
        engine=engine,
        max_new_tokens=opts.max_new_tokens,
        temperature=opts.temperature,
        seed=opts.seed,
        repetition_penalty=opts.repetition_penalty,
        stop_sequences=list(opts.stop),
        wrap_in_chat_template=wrap,
    )


def local_llm(spec: ModelSpec, opts: ModelOptions) -> LocalLLM:
    """The text-completion LLM for a ``local`` or ``hf:`` spec."""
    engine, name = _load(spec, opts)
    # The embedded model is an instruct model: a raw prompt gets an empty answer unless wrapped as a user turn.
    return _local_llm(opts, engine, name, wrap=spec.provider == "local")


def local_chat_model(spec: ModelSpec, opts: ModelOptions) -> LocalChatModel:
    """The chat model for a ``local`` or ``hf:`` spec (tokenizer passed explicitly: no hub lookup)."""
    engine, name = _load(spec, opts)
    llm = _local_llm(opts, engine, name, wrap=False)  # the chat model applies the template itself
    return LocalChatModel(llm=llm, tokenizer=engine.tokenizer, model_id=name)

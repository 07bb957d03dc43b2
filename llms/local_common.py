"""What `LocalChatModel` and `LocalLLM` share: messages to template dicts, usage, per-call option merging, async
calls in a worker thread, engine streams as chunks, and building the engine from a spec when a class is
constructed directly (``LocalChatModel(model="hf:/dir")``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from langchain_core.messages import BaseMessage, UsageMetadata
from langchain_core.runnables.config import run_in_executor
from pydantic import BaseModel, ConfigDict, Field, model_validator

from llms.capabilities import ModelCapabilities
from llms.engines.base import Completion, GenerationOptions

__all__ = ["LocalModelMixin", "engine_from", "message_dicts", "stream_chunks", "usage"]

Chunk = TypeVar("Chunk")

# Per-call options a local model takes (besides `stop`); `json_schema` and `response_format` become a grammar.
_CALL_OPTIONS = {"max_new_tokens", "max_tokens", "temperature", "top_p", "seed", "repetition_penalty"}
_GRAMMAR_OPTIONS = {"json_schema", "response_format"}
# Tracing-only options LangChain passes down some paths; they carry no generation setting.
_TRACING_OPTIONS = {"ls_structured_output_format", "structured_output_format"}


def message_dicts(messages: Sequence[BaseMessage]) -> list[dict[str, str]]:
    """LangChain messages as ``{"role", "content"}`` dicts for a chat template (text content only)."""
    roles = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "tool"}
    return [{"role": roles.get(m.type, "user"), "content": m.text} for m in messages]


def usage(c: Completion) -> UsageMetadata:
    total = c.prompt_tokens + c.completion_tokens
    return UsageMetadata(input_tokens=c.prompt_tokens, output_tokens=c.completion_tokens, total_tokens=total)


def stream_chunks(
    pieces: Iterable[str | Completion],
    text_chunk: Callable[[str], Chunk],
    last_chunk: Callable[[Completion], Chunk],
    run_manager: Any,
) -> Iterator[Chunk]:
    """An engine's stream as LangChain chunks: one per text piece (each reported as a new token), then the last."""
    for piece in pieces:
        if isinstance(piece, Completion):
            yield last_chunk(piece)
            continue
        chunk = text_chunk(piece)
        if run_manager:
            run_manager.on_llm_new_token(piece, chunk=chunk)
        yield chunk


class LocalModelMixin(BaseModel):
    """What both local classes share: the engine, the default options and their per-call merge, and building the
    engine from ``model`` when none is passed (a pydantic mixin: its fields become both classes' fields)."""

    model_config = ConfigDict(arbitrary_types_allowed=True, populate_by_name=True, protected_namespaces=())

    _ls_model_type: ClassVar[str] = "chat"  # LangSmith's kind of model: "chat" or "llm"

    engine: Any = Field(default=None, exclude=True)
    model_name: str = Field(default="local", alias="model")
    max_new_tokens: int = Field(default=256, alias="max_tokens", ge=1)
    temperature: float = Field(default=0.0, ge=0.0)
    top_p: float | None = None
    seed: int | None = None
    repetition_penalty: float | None = None
    stop: list[str] | None = Field(default=None, alias="stop_sequences")

    @model_validator(mode="before")
    @classmethod
    def _load_engine(cls, values: Any) -> Any:
        return engine_from(values)

    if TYPE_CHECKING:

        def _generate(self, *args: Any, **kwargs: Any) -> Any: ...

    async def _agenerate(self, inputs: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
        # Generation is CPU/GPU-bound: `_generate` runs in a worker thread so the event loop stays free.
        sync_manager = run_manager.get_sync() if run_manager else None
        return await run_in_executor(None, self._generate, inputs, stop, sync_manager, **kwargs)

    @property
    def _identifying_params(self) -> dict[str, Any]:
        caps = self.engine.capabilities
        return {"model_name": self.model_name, "engine": caps.engine, "device": caps.device, "dtype": caps.dtype}

    @property
    def capabilities(self) -> ModelCapabilities:
        caps = self.engine.capabilities
        return ModelCapabilities(
            backend="local", grammar=caps.grammar, max_tokens_option="max_new_tokens", engine=caps.engine
        )

    def generation_options(
        self, stop: Sequence[str] | None, kwargs: dict[str, Any], extra_stops: Sequence[str] = ()
    ) -> GenerationOptions:
        """One call's options: per-call values win over the instance's; unknown ones are refused by name."""
        from llms.response_format import grammar_from_options

        unknown = sorted(set(kwargs) - _CALL_OPTIONS - _GRAMMAR_OPTIONS - _TRACING_OPTIONS - {"stop"})
        if unknown:
            raise TypeError(f"generation option(s) {', '.join(unknown)} do not apply to local models")
        stops = [*(self.stop or []), *(stop or []), *(kwargs.get("stop") or []), *extra_stops]
        limit = kwargs.get("max_new_tokens", kwargs.get("max_tokens", self.max_new_tokens))
        if not isinstance(limit, int) or limit < 1:
            raise ValueError(f"max_new_tokens must be an integer >= 1, got {limit!r}")
        return GenerationOptions(
            max_new_tokens=limit,
            temperature=kwargs.get("temperature", self.temperature),
            top_p=kwargs.get("top_p", self.top_p),
            stop=tuple(dict.fromkeys(s for s in stops if s)),
            seed=kwargs.get("seed", self.seed),
            repetition_penalty=kwargs.get("repetition_penalty", self.repetition_penalty),
            grammar=grammar_from_options(kwargs.get("json_schema"), kwargs.get("response_format")),
        )

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        params: dict[str, Any] = {
            "ls_provider": "chain-recipes",
            "ls_model_type": self._ls_model_type,
            "ls_model_name": kwargs.get("model") if isinstance(kwargs.get("model"), str) else self.model_name,
            "ls_temperature": kwargs.get("temperature", self.temperature),
            "ls_max_tokens": kwargs.get("max_new_tokens", kwargs.get("max_tokens", self.max_new_tokens)),
        }
        stops = stop or self.stop
        if stops:
            params["ls_stop"] = list(stops)
        return params


def engine_from(values: Any) -> Any:
    """Build the engine from ``model`` (a spec) when none was passed: ``LocalChatModel(model="hf:/dir")``.

    ``engine`` may name the engine to use (``auto``, ``onnxruntime``, ``transformers``) instead of being one.
    """
    if not isinstance(values, dict) or (values.get("engine") is not None and not isinstance(values["engine"], str)):
        return values
    from llms.engines.select import load_engine
    from llms.options import ModelOptions
    from llms.spec import parse_spec

    values = dict(values)
    spec = values.get("model") or values.get("model_name") or "local"
    given = {k: values.pop(k) for k in ("threads", "device", "dtype", "device_map", "engine") if k in values}
    parsed = parse_spec(spec)
    if parsed.provider not in ("local", "hf"):
        raise ValueError(f"a local model needs a 'local' or 'hf:' spec, got {spec!r}")
    values["engine"] = load_engine(parsed, ModelOptions.for_backend(parsed.provider, **given))
    return values



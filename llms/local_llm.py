"""`LocalLLM`: a text-completion LLM (a LangChain `BaseLLM`) over a local engine, for langchain-classic's
`LLMChain`; `.batch()` is one engine call (BaseLLM hands all prompts to `_generate` at once)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from langchain_core.language_models import BaseLLM
from langchain_core.outputs import Generation, GenerationChunk, LLMResult

from llms.engines.base import Completion
from llms.local_common import LocalModelMixin, stream_chunks, usage
from llms.signatures import Run, Stop

__all__ = ["LocalLLM"]


class LocalLLM(LocalModelMixin, BaseLLM):  # type: ignore[misc]
    """A text-completion LLM over a local engine (for langchain-classic's `LLMChain`); `.batch()` is one call."""

    # Instruct models (the embedded SmolLM2) answer nothing to a raw prompt: wrap it as one user turn.
    wrap_in_chat_template: bool = False
    _ls_model_type: ClassVar[str] = "llm"

    @property
    def _llm_type(self) -> str:
        return "chain-recipes-local-llm"

    def _wrap(self, prompt: str) -> str:
        return self.engine.format_chat([{"role": "user", "content": prompt}]) if self.wrap_in_chat_template else prompt

    def _generate(self, prompts: list[str], stop: Stop = None, run_manager: Run = None, **kwargs: Any) -> LLMResult:
        done = self.engine.generate([self._wrap(p) for p in prompts], self.generation_options(stop, kwargs))
        generations = [
            [Generation(text=c.text, generation_info={"finish_reason": c.finish_reason, "usage": usage(c)})]
            for c in done
        ]
        return LLMResult(generations=generations, llm_output={"model_name": self.model_name})

    def _stream(
        self, prompt: str, stop: Stop = None, run_manager: Run = None, **kwargs: Any
    ) -> Iterator[GenerationChunk]:
        pieces = self.engine.stream(self._wrap(prompt), self.generation_options(stop, kwargs))
        yield from stream_chunks(pieces, lambda text: GenerationChunk(text=text), self._last_chunk, run_manager)

    def _last_chunk(self, c: Completion) -> GenerationChunk:
        info = {"finish_reason": c.finish_reason, "usage": usage(c), "model_name": self.model_name}
        return GenerationChunk(text="", generation_info=info)

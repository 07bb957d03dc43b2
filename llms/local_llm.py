"""`LocalLLM`: a text-completion LLM (a LangChain `BaseLLM`) over a local engine, for langchain-classic's
`LLMChain`; `.batch()` is one engine call (BaseLLM hands all prompts to `_generate` at once)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseLLM
from langchain_core.outputs import Generation, GenerationChunk, LLMResult
from langchain_core.runnables.config import run_in_executor

from llms.engines.base import Completion
from llms.local_common import LocalModelMixin, usage

__all__ = ["LocalLLM"]


class LocalLLM(LocalModelMixin, BaseLLM):  # type: ignore[misc]
    """A text-completion LLM over a local engine (for langchain-classic's `LLMChain`); `.batch()` is one call."""

    # Instruct models (the embedded SmolLM2) answer nothing to a raw prompt: wrap it as one user turn.
    wrap_in_chat_template: bool = False

    @property
    def _llm_type(self) -> str:
        return "chain-recipes-local-llm"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        return {**self._ls(stop, kwargs), "ls_model_type": "llm"}

    def _wrap(self, prompt: str) -> str:
        return self.engine.format_chat([{"role": "user", "content": prompt}]) if self.wrap_in_chat_template else prompt

    def _generate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        done = self.engine.generate([self._wrap(p) for p in prompts], self.generation_options(stop, kwargs))
        generations = [
            [Generation(text=c.text, generation_info={"finish_reason": c.finish_reason, "usage": usage(c)})]
            for c in done
        ]
        return LLMResult(generations=generations, llm_output={"model_name": self.model_name})

    async def _agenerate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        sync_manager = run_manager.get_sync() if run_manager else None
        return await run_in_executor(None, self._generate, prompts, stop, sync_manager, **kwargs)

    def _stream(
        self,
        prompt: str,
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[GenerationChunk]:
        for piece in self.engine.stream(self._wrap(prompt), self.generation_options(stop, kwargs)):
            if isinstance(piece, Completion):
                info = {"finish_reason": piece.finish_reason, "usage": usage(piece), "model_name": self.model_name}
                yield GenerationChunk(text="", generation_info=info)
                continue
            chunk = GenerationChunk(text=piece)
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk

"""`RecipesOpenAI`: LangChain's `OpenAI` (text completions, ``/v1/completions``) with typed one-line errors, one
deadline per call, and one string prompt per request (which every OpenAI-compatible server takes)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar

from langchain_core.outputs import GenerationChunk, LLMResult
from langchain_openai import OpenAI
from pydantic import model_validator

from llms.capabilities import ModelCapabilities
from llms.openai_deadline import deadline_payload
from llms.openai_errors import BackendResponseError
from llms.openai_responses import completion_data, require_aevents, require_events
from llms.openai_shared import OpenAIEndpoint

__all__ = ["RecipesOpenAI"]


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

    def _arguments(self, prompt: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        return deadline_payload({**kwargs, "prompt": self._prompt(prompt)}, self._deadline_s)

    def _check(self, response: Any, arguments: dict[str, Any]) -> Any:
        if arguments.get("stream"):
            return response
        if not completion_data(response, self._url, "a completion").get("choices"):
            raise BackendResponseError(f"{self._url} sent a completion with no choices", url=self._url)
        return response

    def create(self, *, prompt: Any, **kwargs: Any) -> Any:
        arguments = self._arguments(prompt, kwargs)
        return self._check(self._resource.create(**arguments), arguments)


class _AsyncOnePromptCompletions(_OnePromptCompletions):
    async def create(self, *, prompt: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        arguments = self._arguments(prompt, kwargs)
        return self._check(await self._resource.create(**arguments), arguments)


class RecipesOpenAI(OpenAIEndpoint, OpenAI):
    """`langchain_openai.OpenAI` (text completions) with typed errors and one string prompt per request."""

    endpoint_path: ClassVar[str] = "completions"
    batch_size: int = 1
    deadline_s: float | None = None
    """Seconds for the whole request (`timeout`), enforced by the HTTP client `openai_llm` builds; None: none."""

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
            yield from require_events(super()._stream(prompt, stop=stop, run_manager=run_manager, **kw), self._endpoint)

    async def _astream(
        self, prompt: str, stop: list[str] | None = None, run_manager: Any = None, **kw: Any
    ) -> AsyncIterator[GenerationChunk]:
        chunks = super()._astream(prompt, stop=stop, run_manager=run_manager, **kw)
        with self._translate():
            async for chunk in require_aevents(chunks, self._endpoint):
                yield chunk


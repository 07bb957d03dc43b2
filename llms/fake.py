"""Fake models shipped for tests, like dspy's DummyLM: deterministic, offline, with real LangChain plumbing.

>>> from llms.fake import FakeChatModel
>>> FakeChatModel(responses=["hi"]).invoke("hello").content
'hi'
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from langchain_core.language_models import LLM, BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import BaseModel, Field, PrivateAttr

from llms.capabilities import ModelCapabilities
from llms.signatures import Messages, Run, Stop
from llms.stops import cut_at_stop
from llms.structured_mixin import StructuredByCapabilities

__all__ = ["FakeChatModel", "FakeLLM"]


def _echo_text(messages: list[BaseMessage]) -> str:
    return str(messages[-1].content) if messages else ""


class _Responses(BaseModel):
    """`responses` in turn, cycling (a pydantic mixin: its field becomes both fakes' field)."""

    responses: list[str] = Field(default_factory=list)
    _index: int = PrivateAttr(default=0)

    def _next_response(self, echo: str) -> str:
        """The next response, or `echo` when there are none."""
        if not self.responses:
            return echo
        text = self.responses[self._index % len(self.responses)]
        self._index += 1
        return text


class FakeChatModel(_Responses, StructuredByCapabilities, BaseChatModel):
    """Answers with `responses` in turn (cycling), or echoes the last message when `responses` is empty.

    Records every call's messages in `calls`, honours `stop`, streams word by word, and reports
    finish_reason / usage / model name like a real backend. Spec strings: ``fake:echo`` or ``fake:a|b|c``.
    """

    stop_sequences: list[str] = Field(default_factory=list)
    finish_reason: str = "stop"
    model_name: str = "fake"
    _calls: list[list[BaseMessage]] = PrivateAttr(default_factory=list)

    @property
    def calls(self) -> list[list[BaseMessage]]:
        """The messages of every call so far, in order."""
        return self._calls

    @property
    def _llm_type(self) -> str:
        return "recipes-fake-chat"

    @property
    def capabilities(self) -> ModelCapabilities:
        return ModelCapabilities(backend="fake")

    def _next_text(self, messages: list[BaseMessage], stop: list[str] | None) -> tuple[str, str]:
        self._calls.append(list(messages))
        text, stopped = cut_at_stop(self._next_response(_echo_text(messages)), [*self.stop_sequences, *(stop or [])])
        return text, "stop" if stopped else self.finish_reason

    def _message(self, text: str, reason: str, messages: list[BaseMessage]) -> AIMessage:
        n_in = sum(len(str(m.content).split()) for m in messages)
        n_out = len(text.split())
        return AIMessage(
            content=text,
            response_metadata={"finish_reason": reason, "model_name": self.model_name},
            usage_metadata={"input_tokens": n_in, "output_tokens": n_out, "total_tokens": n_in + n_out},
        )

    def _generate(self, messages: Messages, stop: Stop = None, run_manager: Run = None, **kwargs: Any) -> ChatResult:
        text, reason = self._next_text(messages, stop)
        return ChatResult(generations=[ChatGeneration(message=self._message(text, reason, messages))])

    def _stream(
        self, messages: Messages, stop: Stop = None, run_manager: Run = None, **kwargs: Any
    ) -> Iterator[ChatGenerationChunk]:
        text, reason = self._next_text(messages, stop)
        pieces = [w for w in text.split(" ")]
        for i, word in enumerate(pieces):
            piece = word if i == len(pieces) - 1 else word + " "
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="", response_metadata={"finish_reason": reason, "model_name": self.model_name}
            )
        )


class FakeLLM(_Responses, LLM):
    """Text-completion twin of `FakeChatModel`, for the classic LLMChain path."""

    @property
    def _llm_type(self) -> str:
        return "recipes-fake-llm"

    def _call(self, prompt: str, stop: Stop = None, run_manager: Run = None, **kwargs: Any) -> str:
        return cut_at_stop(self._next_response(prompt), stop or [])[0]

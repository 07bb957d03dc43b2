"""Re-ask: when the parser fails, show the model its reply and the error, and ask again (bounded).

>>> from llms.fake import FakeChatModel
>>> from parsers.json_parser import JsonParser
>>> result = with_reask(FakeChatModel(responses=["oops", '{"answer": 4}']), JsonParser()).invoke("2+2?")
>>> result.value, result.attempts
({'answer': 4}, 2)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForChainRun
from langchain_core.exceptions import OutputParserException
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, convert_to_messages
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import Runnable, RunnableConfig, RunnableSerializable
from pydantic import BaseModel, ConfigDict, Field

from parsers.errors import OutputParseError

__all__ = ["DEFAULT_REASK_MESSAGE", "Reask", "ReaskResult", "with_reask"]

DEFAULT_REASK_MESSAGE = (
    "Your previous answer could not be used: {error}\nReply again with only the corrected output, no prose."
)


class ReaskResult(BaseModel):
    """The parsed value, how many model calls it took, and the parse errors met on the way."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    value: Any
    attempts: int
    errors: tuple[str, ...] = ()


def _to_messages(value: Any) -> list[BaseMessage]:
    """A new list of the caller's messages (the caller's own list is never touched)."""
    if isinstance(value, PromptValue):
        return list(value.to_messages())
    if isinstance(value, str):
        return [HumanMessage(content=value)]
    if isinstance(value, BaseMessage):
        return [value]
    if isinstance(value, Sequence):
        return list(convert_to_messages(value))
    raise TypeError(f"re-ask input must be text, messages or a PromptValue, got {type(value).__name__}")


def _reason(err: OutputParserException) -> str:
    return err.observation or (str(err).splitlines() or ["could not parse the answer"])[0]


class Reask(RunnableSerializable[Any, ReaskResult]):
    """`model` then `parser`, retried with the error shown to the model; see `with_reask`.

    Async callers get LangChain's default `ainvoke`: this `invoke` in a worker thread.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model: Runnable[Any, Any]
    parser: Runnable[Any, Any]
    max_attempts: int = Field(default=3, ge=1, le=20)
    reask_message: str = DEFAULT_REASK_MESSAGE
    """Sent after a failed reply; `{error}` is replaced (by plain text replacement) with the parse error."""

    def _next_messages(self, messages: list[BaseMessage], reply: Any, err: OutputParserException) -> list[BaseMessage]:
        answer = reply if isinstance(reply, BaseMessage) else AIMessage(content=str(reply))
        ask = HumanMessage(content=self.reask_message.replace("{error}", _reason(err)))
        return [*messages, answer, ask]

    def _give_up(self, err: OutputParserException, attempts: int) -> OutputParseError:
        if isinstance(err, OutputParseError):
            err.attempts = attempts
            return err
        return OutputParseError(f"gave up after {attempts} attempts: {_reason(err)}", raw=str(err.llm_output or ""))

    def _run(self, value: Any, run_manager: CallbackManagerForChainRun, config: RunnableConfig) -> ReaskResult:
        messages, errors = _to_messages(value), list[str]()
        for attempt in range(1, self.max_attempts + 1):
            reply = self.model.invoke(messages, config)
            try:
                return ReaskResult(value=self.parser.invoke(reply, config), attempts=attempt, errors=tuple(errors))
            except OutputParserException as err:
                errors.append(_reason(err))
                if attempt == self.max_attempts:
                    raise self._give_up(err, attempt) from None
                messages = self._next_messages(messages, reply, err)
        raise AssertionError("unreachable")

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> ReaskResult:
        return self._call_with_config(self._run, input, config, run_type="chain")


def with_reask(
    model: Runnable[Any, Any],
    parser: Runnable[Any, Any],
    max_attempts: int = 3,
    *,
    reask_message: str = DEFAULT_REASK_MESSAGE,
) -> Reask:
    """A Runnable taking the model's input (text, messages, PromptValue) and returning a `ReaskResult`;
    after `max_attempts` failures it raises the last typed parse error (with `.attempts` set)."""
    return Reask(model=model, parser=parser, max_attempts=max_attempts, reask_message=reask_message)

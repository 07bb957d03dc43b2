"""Message -> text, and message -> `CallInfo` (text plus finish reason, token usage and model name).

>>> from langchain_core.messages import AIMessage
>>> msg = AIMessage(content="hi", response_metadata={"finish_reason": "stop", "model_name": "m"},
...                 usage_metadata={"input_tokens": 3, "output_tokens": 1, "total_tokens": 4})
>>> CallInfoParser().invoke(msg).total_tokens
4
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.output_parsers import BaseOutputParser
from langchain_core.outputs import ChatGeneration, Generation
from pydantic import BaseModel, ConfigDict

from parsers.errors import OutputParseError

__all__ = ["CallInfo", "CallInfoParser", "finish_reason_of", "first_generation"]


class CallInfo(BaseModel):
    """The reply text with the call's extra information; fields the backend did not report are None."""

    model_config = ConfigDict(frozen=True)

    text: str
    finish_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    model_name: str | None = None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _first_str(meta: Mapping[str, Any], *keys: str) -> str | None:
    return next((str(meta[k]) for k in keys if isinstance(meta.get(k), str)), None)


def first_generation(result: list[Generation]) -> Generation:
    """The first generation a parser is given; a typed error when the model returned none."""
    if not result:
        raise OutputParseError("the model returned no generations")
    return result[0]


def _metadata(generation: Generation) -> Mapping[str, Any]:
    if isinstance(generation, ChatGeneration):
        return generation.message.response_metadata or {}
    return generation.generation_info or {}


def finish_reason_of(generation: Generation) -> str | None:
    """The provider's stop reason from a generation, whatever the provider calls it."""
    return _first_str(_metadata(generation), "finish_reason", "stop_reason", "done_reason")


def _usage(message_usage: Any, meta: Mapping[str, Any]) -> tuple[int | None, int | None, int | None]:
    if isinstance(message_usage, Mapping) and message_usage:  # LangChain's standard usage_metadata
        i, o = _int(message_usage.get("input_tokens")), _int(message_usage.get("output_tokens"))
        return i, o, _int(message_usage.get("total_tokens"))
    legacy = meta.get("token_usage") or meta.get("usage")  # OpenAI-style response metadata
    if isinstance(legacy, Mapping):
        i = _int(legacy.get("prompt_tokens", legacy.get("input_tokens")))
        o = _int(legacy.get("completion_tokens", legacy.get("output_tokens")))
        return i, o, _int(legacy.get("total_tokens"))
    return None, None, None


class CallInfoParser(BaseOutputParser[CallInfo]):
    """`model | CallInfoParser()` -> `CallInfo(text, finish_reason, input_tokens, output_tokens, ...)`."""

    @property
    def _type(self) -> str:
        return "recipes_call_info"

    def parse_result(self, result: list[Generation], *, partial: bool = False) -> CallInfo:
        gen = first_generation(result)
        meta = _metadata(gen)
        usage = getattr(gen.message, "usage_metadata", None) if isinstance(gen, ChatGeneration) else None
        i, o, total = _usage(usage, meta)
        if total is None and i is not None and o is not None:
            total = i + o
        return CallInfo(
            text=gen.text,
            finish_reason=finish_reason_of(gen),
            input_tokens=i,
            output_tokens=o,
            total_tokens=total,
            model_name=_first_str(meta, "model_name", "model", "model_id"),
        )

    def parse(self, text: str) -> CallInfo:
        return CallInfo(text=text)

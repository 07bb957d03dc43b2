"""Typed parse errors: short one-line messages with at most ~200 characters of the raw output.

>>> err = OutputParseError("no JSON object or array found", raw="hello")
>>> str(err), err.raw
("no JSON object or array found (output: 'hello')", 'hello')
"""

from __future__ import annotations

from typing import Any

from langchain_core.exceptions import OutputParserException

from llms.errors import RecipesError

__all__ = ["EXCERPT_CHARS", "OutputParseError", "SchemaValidationError", "TruncatedOutputError", "excerpt"]

EXCERPT_CHARS = 200


def excerpt(raw: str, limit: int = EXCERPT_CHARS) -> str:
    """`raw` on one line, cut in the middle to about `limit` characters (both ends are informative)."""
    if len(raw) > limit:
        half = (limit - 5) // 2
        raw = f"{raw[:half]} ... {raw[-half:]}"
    return repr(raw)


class OutputParseError(RecipesError, OutputParserException):
    """Model output that is not the JSON (or text) we asked for; `raw` keeps the whole output."""

    def __init__(self, reason: str, *, raw: str = "", attempts: int = 1) -> None:
        message = f"{reason} (output: {excerpt(raw)})"
        super().__init__(message, observation=reason, llm_output=raw)
        # LangChain appends a multi-line troubleshooting link to string errors; keep ours to one line.
        self.args = (message,)
        self.reason = reason
        self.raw = raw
        self.attempts = attempts

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.__dict__))


def _rebuild(cls: type[OutputParseError], state: dict[str, Any]) -> OutputParseError:
    err = cls.__new__(cls)
    err.__dict__.update(state)
    err.args = (f"{state.get('reason', '')} (output: {excerpt(state.get('raw', ''))})",)
    return err


class TruncatedOutputError(OutputParseError):
    """The JSON value was cut off, or the model hit its token limit; `partial` is a best-effort value."""

    def __init__(self, reason: str, *, raw: str = "", partial: Any = None, finish_reason: str | None = None) -> None:
        super().__init__(reason, raw=raw)
        self.partial = partial
        self.finish_reason = finish_reason


class SchemaValidationError(OutputParseError):
    """Valid JSON that does not match the schema; `paths` names each failing field (e.g. `items.0.price`)."""

    def __init__(self, reason: str, *, raw: str = "", value: Any = None, errors: list[dict[str, Any]]) -> None:
        super().__init__(reason, raw=raw)
        self.value = value
        self.errors = errors
        self.paths = [e["path"] for e in errors]

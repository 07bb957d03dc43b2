"""Typed parse errors: one-line messages (bounded length) with at most ~200 characters of the raw output.

>>> err = OutputParseError("no JSON object or array found", raw="hello")
>>> str(err), err.raw
("no JSON object or array found (output: 'hello')", 'hello')
"""

from __future__ import annotations

from typing import Any

from langchain_core.exceptions import OutputParserException

from core.errors import RecipesError
from core.text import one_line

__all__ = [
    "EXCERPT_CHARS",
    "REASON_CHARS",
    "OutputParseError",
    "SchemaValidationError",
    "TruncatedOutputError",
    "excerpt",
    "one_line",
]

EXCERPT_CHARS = 200
REASON_CHARS = 500


def excerpt(raw: str, limit: int = EXCERPT_CHARS) -> str:
    """`raw` on one line, cut in the middle to about `limit` characters (both ends are informative)."""
    if len(raw) > limit:
        half = (limit - 5) // 2
        raw = f"{raw[:half]} ... {raw[-half:]}"
    shown = repr(raw)  # escapes every line break (\n, \r, \u2028, ...)
    if len(shown) > 2 * limit:  # escapes can make the repr ten times longer than the text
        shown = f"{shown[:limit]} ... {shown[-limit:]}"
    return shown


def _message(reason: str, raw: str) -> str:
    return f"{reason} (output: {excerpt(raw)})"


class OutputParseError(RecipesError, OutputParserException):
    """Model output that is not the JSON (or text) we asked for; `raw` keeps the whole output."""

    def __init__(self, reason: str, *, raw: str = "", attempts: int = 1) -> None:
        reason = one_line(reason)  # a reason quoting model text or a provider's field could hold line breaks
        message = _message(reason, raw)
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
    err.args = (_message(state.get("reason", ""), state.get("raw", "")),)
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

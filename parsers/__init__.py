"""Text -> JSON parsers for messy model output: typed errors, strict about truncation, Runnable with `|`.

>>> from parsers import parse_json
>>> parse_json('Here you go:\\n```json\\n{"answer": "서울"}\\n```')
{'answer': '서울'}
"""

from __future__ import annotations

from parsers.errors import OutputParseError, SchemaValidationError, TruncatedOutputError
from parsers.extract import echo_spans, extract_json, partial_json
from parsers.json_parser import LENGTH_REASONS, JsonParser, finish_reason_of, parse_json, validate
from parsers.reask import DEFAULT_REASK_MESSAGE, Reask, ReaskResult, with_reask
from parsers.repair import repair_json
from parsers.text import CallInfo, CallInfoParser, TextParser

__all__ = [
    "DEFAULT_REASK_MESSAGE",
    "LENGTH_REASONS",
    "CallInfo",
    "CallInfoParser",
    "JsonParser",
    "OutputParseError",
    "Reask",
    "ReaskResult",
    "SchemaValidationError",
    "TextParser",
    "TruncatedOutputError",
    "echo_spans",
    "extract_json",
    "finish_reason_of",
    "parse_json",
    "partial_json",
    "repair_json",
    "validate",
    "with_reask",
]

"""Text -> JSON parsers for messy model output: typed errors, strict about truncation, Runnable with `|`.

>>> from parsers import parse_json
>>> parse_json('Here you go:\\n```json\\n{"answer": "서울"}\\n```')
{'answer': '서울'}
"""

from __future__ import annotations

from parsers.errors import OutputParseError, SchemaValidationError, TruncatedOutputError
from parsers.extract import extract_json, partial_json
from parsers.json_parser import JsonParser, parse_json, validate
from parsers.reask import Reask, with_reask
from parsers.repair import repair_json
from parsers.text import CallInfo, CallInfoParser

__all__ = [
    "CallInfo",
    "CallInfoParser",
    "JsonParser",
    "OutputParseError",
    "Reask",
    "SchemaValidationError",
    "TruncatedOutputError",
    "extract_json",
    "parse_json",
    "partial_json",
    "repair_json",
    "validate",
    "with_reask",
]

"""Opt-in repair of common slips (trailing commas, single quotes, comments, Python literals) via json-repair.

Strict mode still refuses a cut-off value: json-repair would close it silently, so brackets are balanced
here first with a lenient scanner that understands both quote styles and comments.

>>> repair_json("Sure: {'answer': True, 'items': [1, 2,],} // done", strict=True)
{'answer': True, 'items': [1, 2]}
"""

from __future__ import annotations

import re
from typing import Any

import json_repair

from parsers.errors import OutputParseError, TruncatedOutputError
from parsers.extract import echo_spans, strip_preamble

__all__ = ["lenient_end", "repair_json"]

_FENCE = re.compile(r"```[^\n`]*\n?(.*?)(?:```|\Z)", re.S)
_OPENER = re.compile(r"[{\[]")


def lenient_end(text: str, start: int) -> int | None:
    """Index after the structure opening at `start`, or None if the text ends first (inside it)."""
    depth, i, n = 0, start, len(text)
    while i < n:
        c = text[i]
        if c in "\"'":
            i += 1
            while i < n and text[i] != c:
                i += 2 if text[i] == "\\" else 1
            if i >= n:
                return None
        elif c == "#" or text.startswith("//", i):
            nl = text.find("\n", i)
            if nl < 0:
                return None if depth else n
            i = nl
        elif text.startswith("/*", i):
            close = text.find("*/", i + 2)
            if close < 0:
                return None
            i = close + 1
        elif c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return None


def repair_json(text: str, *, strict: bool = True, prompt: str | None = None) -> dict[str, Any] | list[Any]:
    """The first object/array in `text`, repaired; typed errors when there is none or it is cut off."""
    cleaned = strip_preamble(text)
    spans = echo_spans(cleaned, prompt)

    def outside(pos: int) -> bool:
        return not any(s <= pos < e for s, e in spans)

    fence = next((f for f in _FENCE.finditer(cleaned) if outside(f.start())), None)
    lo, hi = fence.span(1) if fence else (0, len(cleaned))
    region = cleaned[:hi]
    opener = next((m.start() for m in _OPENER.finditer(region, lo) if outside(m.start())), None)
    if opener is None:
        raise OutputParseError("no JSON object or array found", raw=text)
    end = lenient_end(region, opener)
    if end is None:
        if strict:
            raise TruncatedOutputError("the JSON value is cut off (strict mode does not close it)", raw=text)
        end = len(region)
    try:
        value = json_repair.loads(region[opener:end])
    except Exception as err:  # a third-party parser on untrusted text: any failure is ours
        raise OutputParseError(f"could not repair the JSON ({type(err).__name__})", raw=text) from err
    if not isinstance(value, dict | list):
        raise OutputParseError("could not repair the JSON into an object or array", raw=text)
    return value

"""Find the JSON value in messy model output: fences, prose around it, a `<think>` block, an echoed prompt.

>>> extract_json('Sure! Here it is:\\n```json\\n{"answer": 4}\\n```\\nAnything else?').value
{'answer': 4}
>>> extract_json('Q: give {"answer": 1}\\nA: {"answer": 2}', prompt='Q: give {"answer": 1}').value
{'answer': 2}
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from parsers.scan import scan

__all__ = ["Extraction", "echo_spans", "extract_json", "loads", "partial_json", "strip_preamble"]

_THINK = re.compile(r"\A\s*<think>.*?</think>", re.S | re.I)
_OPEN_THINK = re.compile(r"\A\s*<think>", re.I)
_FENCE = re.compile(r"```[^\n`]*\n?(.*?)```", re.S)
# An opening bracket that can start JSON (prose like "[see above]" or "{name}" is not a candidate).
_CANDIDATE = re.compile(
    r'\{\s*(?:["}]|\Z)|\[\s*(?:["{\[\]\-0-9]|true|false|null|(?:t|tr|tru|f|fa|fal|fals|n|nu|nul)?\Z)'
)


@dataclass(frozen=True)
class Extraction:
    """`complete`: `value` found; `truncated`: `value` is the prefix closed (or None); else see `reason`."""

    status: Literal["complete", "truncated", "invalid", "missing"]
    value: Any = None
    reason: str = ""


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads(text: str) -> Any:
    """`json.loads` allowing raw control characters in strings, refusing NaN/Infinity; every failure
    (deep nesting too) is a ValueError."""
    try:
        return json.loads(text, strict=False, parse_constant=_no_constants)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def strip_preamble(text: str) -> str:
    """Drop a leading BOM and a leading `<think>...</think>` block; an unclosed one swallows the rest."""
    text = text.removeprefix("\ufeff")
    text = _THINK.sub("", text, count=1)
    return "" if _OPEN_THINK.match(text) else text


@lru_cache(maxsize=32)
def _echo_pattern(prompt: str) -> re.Pattern[str] | None:
    words = prompt.split()
    return re.compile(r"\s+".join(map(re.escape, words))) if words else None


def echo_spans(text: str, prompt: str | None) -> list[tuple[int, int]]:
    """Where `prompt` appears in `text` (whitespace may differ): JSON inside these spans is the prompt's."""
    pattern = _echo_pattern(prompt) if prompt else None
    return [m.span() for m in pattern.finditer(text)] if pattern else []


def _span_end(spans: list[tuple[int, int]], pos: int) -> int | None:
    return next((e for s, e in spans if s <= pos < e), None)


_BRACKET_OR_QUOTE = re.compile(r'["{}\[\]]')
_STRING_TAIL = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*"', re.S)


def _bracket_matches(text: str, start: int) -> dict[int, int]:
    """Opening-bracket index -> its closing index, matched leniently (any closer, strings skipped) in one
    pass from `start`: after a malformed candidate the search resumes past its whole structure, so a
    fragment nested in a broken value is never taken for the answer, and garbage costs linear time."""
    matches: dict[int, int] = {}
    stack: list[int] = []
    i = start
    while (m := _BRACKET_OR_QUOTE.search(text, i)) is not None:
        j, c = m.start(), m.group()
        if c == '"':
            tail = _STRING_TAIL.match(text, j + 1)
            if tail is None:
                break
            i = tail.end()
            continue
        if c in "{[":
            stack.append(j)
        elif stack:
            matches[stack.pop()] = j
        i = j + 1
    return matches


def _scan_candidates(text: str, lo: int, hi: int, spans: list[tuple[int, int]]) -> Extraction:
    first_bad: Extraction | None = None
    matches: dict[int, int] | None = None  # built on the first malformed candidate only
    pos, text = lo, text[:hi]
    while (m := _CANDIDATE.search(text, pos)) is not None:
        start = m.start()
        if (end := _span_end(spans, start)) is not None:
            pos = end
            continue
        result = scan(text, start)
        if result.status == "complete":
            try:
                return Extraction("complete", loads(text[start : result.end]))
            except ValueError as err:
                result_reason = f"invalid JSON at char {start}: {err}"
                first_bad = first_bad or Extraction("invalid", reason=result_reason)
                pos = result.end
                continue
        if result.status == "truncated":
            try:
                closed = loads(result.completion) if result.completion is not None else None
            except ValueError:
                closed = None
            return Extraction("truncated", closed, result.reason)
        first_bad = first_bad or Extraction("invalid", reason=f"invalid JSON: {result.reason}")
        if matches is None:
            matches = _bracket_matches(text, start)
        pos = max(matches.get(start, result.end), start) + 1  # unmatched: just past the failure
    return first_bad or Extraction("missing", reason="no JSON object or array found")


def extract_json(text: str, prompt: str | None = None) -> Extraction:
    """The first complete JSON value: the whole text, else the first fenced block, else the first in prose."""
    text = strip_preamble(text)
    spans = echo_spans(text, prompt)
    if not spans and text.strip():
        try:
            return Extraction("complete", loads(text.strip()))
        except ValueError:
            pass
    for fence in _FENCE.finditer(text):
        if _span_end(spans, fence.start()) is not None:
            continue
        try:
            return Extraction("complete", loads(fence.group(1).strip()))
        except ValueError:
            found = _scan_candidates(text, fence.start(1), fence.end(1), spans)
            if found.status == "complete":
                return found
    return _scan_candidates(text, 0, len(text), spans)


def _normalized(text: str) -> str:
    return " ".join(text.split())


def partial_json(text: str, prompt: str | None = None) -> dict[str, Any] | list[Any] | None:
    """Best-effort object/array from a growing stream; None while there is none (or only the prompt echo)."""
    text = strip_preamble(text)
    if prompt and _normalized(prompt).startswith(_normalized(text)):
        return None  # still inside an echo of the prompt (or nothing yet)
    found = extract_json(text, prompt)
    return found.value if isinstance(found.value, dict | list) else None

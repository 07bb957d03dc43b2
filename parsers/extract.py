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

from parsers.brackets import BracketMatcher
from parsers.scan import MAX_DEPTH, scan
from parsers.strict_json import DECODERS, RefusedValueError, check_value, loads

__all__ = [
    "FENCE",
    "Extraction",
    "candidate_pattern",
    "echo_prefix",
    "echo_spans",
    "extract_json",
    "partial_json",
    "span_end",
    "strip_preamble",
]

_THINK = re.compile(r"\A\s*<think>.*?</think>", re.S | re.I)
_OPEN_THINK = re.compile(r"\A\s*<think>", re.I)
# A fenced block; group 2 is empty when the fence is never closed (the repair reads such a block, extraction
# does not).
FENCE = re.compile(r"```[^\n`]*\n?(.*?)(```|\Z)", re.S)
# An opening bracket that can start JSON (prose like "[see above]" or "{name}" is not a candidate). NaN and
# Infinity count either way, so that a refused one gets a clear error.
_CANDIDATE = re.compile(
    r'\{\s*(?:["}]|\Z)|\[\s*(?:["{\[\]\-0-9]|true|false|null|NaN|Infinity'
    r"|(?:t|tr|tru|f|fa|fal|fals|n|nu|nul|N|Na|I|In|Inf|Infi|Infin|Infini|Infinit)?\Z)"
)
_OPENER = re.compile(r"[{\[]")
_VALUE_START = frozenset('{["-0123456789tfnNI')  # how a whole-text JSON value can begin


def candidate_pattern() -> re.Pattern[str]:
    """The pattern of an opening bracket that can start JSON."""
    return _CANDIDATE


@dataclass(frozen=True)
class Extraction:
    """`complete`: `value` found; `truncated`: `value` is the prefix closed (or None); else see `reason`."""

    status: Literal["complete", "truncated", "invalid", "missing"]
    value: Any = None
    reason: str = ""


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


def span_end(spans: list[tuple[int, int]], pos: int) -> int | None:
    """The end of the span (of `echo_spans`) that `pos` lies in, or None."""
    return next((e for s, e in spans if s <= pos < e), None)


def _decode_at(text: str, start: int, allow_nan: bool) -> tuple[Any, int] | None:
    """The complete value at `text[start]` and its end, by the C decoder, or None (then the scanner says why).

    It reads windows growing 8x from 512 characters, since its error message counts the lines of everything
    before the error: on the whole text, many malformed candidates would cost quadratic time.
    """
    decoder, n, width = DECODERS[allow_nan], len(text), 512
    while True:
        hi = min(n, start + width)
        window = text[start:hi]
        try:
            value, end = decoder.raw_decode(window)
            return value, start + end
        except json.JSONDecodeError as err:
            if hi >= n or (err.pos < len(window) - 8 and not err.msg.startswith("Unterminated string")):
                return None  # an error that is not the window's end
        except (ValueError, RecursionError):  # a refused NaN, a 4300-digit integer, nesting past the stack
            return None
        width *= 8


def _scan_candidates(text: str, spans: list[tuple[int, int]], allow_nan: bool) -> Extraction:
    """The first JSON value among the brackets of `text` that sit in prose, not inside another bracket.

    Brackets are taken in order, each as a whole: a complete value is the answer; a cut-off one is reported
    as truncated; a malformed one, or a prose bracket (`{name}`) with JSON written inside it, is skipped up to
    where it is closed by its own kind of bracket, so no fragment nested in a broken value is ever returned;
    if it is never closed, everything after it is inside it and the search ends with the error.
    """
    first_bad: Extraction | None = None
    candidate = _CANDIDATE
    inner = -1  # the next candidate at or after some position (len(text) + 1: none)
    pos = 0
    while (m := _OPENER.search(text, pos)) is not None:
        start = m.start()
        if (end := span_end(spans, start)) is not None:
            pos = end
            continue
        is_candidate = candidate.match(text, start) is not None
        if is_candidate:
            decoded = _decode_at(text, start, allow_nan)  # fast; the scanner tells cut-off from malformed
            if decoded is not None:
                value, end = decoded
                try:
                    return Extraction("complete", check_value(value, text[start:end], allow_nan=allow_nan))
                except ValueError as err:
                    first_bad = first_bad or Extraction("invalid", reason=f"invalid JSON at char {start}: {err}")
                    pos = end
                    continue
        matcher = BracketMatcher(start)
        # Where it closes is found first unless the scanner's reason may be wanted (after an error, a
        # malformed candidate only matters if it is cut off).
        measured = first_bad is not None or not is_candidate
        close = matcher.advance(text, len(text)) if measured else None
        if is_candidate and close is None:
            result = scan(text, start, allow_nan=allow_nan)
            if result.status == "complete":
                try:
                    return Extraction("complete", loads(text[start : result.end], allow_nan=allow_nan))
                except ValueError as err:
                    first_bad = first_bad or Extraction("invalid", reason=f"invalid JSON at char {start}: {err}")
                    pos = result.end
                    continue
            if result.status == "truncated":
                try:
                    closed = loads(result.completion, allow_nan=allow_nan) if result.completion is not None else None
                except ValueError:
                    closed = None
                return Extraction("truncated", closed, result.reason)
            first_bad = first_bad or Extraction("invalid", reason=f"invalid JSON: {result.reason}")
        if not measured:
            close = matcher.advance(text, len(text))
        if is_candidate and close is None and matcher.deepest > MAX_DEPTH:
            # Never closed, and nested past the depth limit (where reading stops): report it as cut off.
            return Extraction("truncated", None, f"the JSON value is cut off (nested deeper than {MAX_DEPTH} levels)")
        if not is_candidate and first_bad is None:
            if inner <= start:
                found = candidate.search(text, start + 1)
                inner = found.start() if found else len(text) + 1
            if inner < (len(text) if close is None else close) and span_end(spans, inner) is None:
                # JSON written inside a prose bracket (`{name: [1]}`, `{'a': [1]}`): a broken value
                first_bad = Extraction("invalid", reason=f"invalid JSON: {scan(text, start).reason}")
        if close is None:
            break  # never closed: everything after it is inside the broken value
        pos = close + 1
    return first_bad or Extraction("missing", reason="no JSON object or array found")


def extract_json(text: str, prompt: str | None = None, *, allow_nan: bool = False) -> Extraction:
    """The first complete JSON value: the whole text, else the first fenced block, else the first in prose."""
    text = strip_preamble(text)
    spans = echo_spans(text, prompt)
    refused: Extraction | None = None
    whole = text.strip()
    if not spans and whole and whole[0] in _VALUE_START:
        try:
            return Extraction("complete", loads(whole, allow_nan=allow_nan))
        except RefusedValueError as err:
            refused = Extraction("invalid", reason=f"invalid JSON: {err}")
        except ValueError:
            pass
    for fence in FENCE.finditer(text):
        if not fence.group(2) or span_end(spans, fence.start()) is not None:
            continue
        try:
            return Extraction("complete", loads(fence.group(1).strip(), allow_nan=allow_nan))
        except ValueError:
            lo = fence.start(1)
            found = _scan_candidates(fence.group(1), [(a - lo, b - lo) for a, b in spans], allow_nan)
            if found.status == "complete":
                return found
    found = _scan_candidates(text, spans, allow_nan)
    return refused if refused is not None and found.status == "missing" else found


def _normalized(text: str) -> str:
    return " ".join(text.split())


def echo_prefix(text: str, prompt: str | None) -> bool:
    """Whether `text` (preamble stripped) is so far only an echo of `prompt` (or nothing)."""
    return bool(prompt) and _normalized(prompt or "").startswith(_normalized(text))


def partial_json(text: str, prompt: str | None = None, *, allow_nan: bool = False) -> dict[str, Any] | list[Any] | None:
    """Best-effort object/array from a growing stream; None while there is none (or only the prompt echo)."""
    text = strip_preamble(text)
    if echo_prefix(text, prompt):
        return None  # still inside an echo of the prompt (or nothing yet)
    found = extract_json(text, prompt, allow_nan=allow_nan)
    return found.value if isinstance(found.value, dict | list) else None

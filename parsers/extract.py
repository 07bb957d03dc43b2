"""Find the JSON value in messy model output: fences, prose around it, a `<think>` block, an echoed prompt.

>>> extract_json('Sure! Here it is:\\n```json\\n{"answer": 4}\\n```\\nAnything else?').value
{'answer': 4}
>>> extract_json('Q: give {"answer": 1}\\nA: {"answer": 2}', prompt='Q: give {"answer": 1}').value
{'answer': 2}
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from parsers.scan import MAX_DEPTH, BracketMatcher, scan

__all__ = [
    "Extraction",
    "RefusedValueError",
    "candidate_pattern",
    "check_value",
    "echo_prefix",
    "echo_spans",
    "extract_json",
    "loads",
    "partial_json",
    "strip_preamble",
]

_THINK = re.compile(r"\A\s*<think>.*?</think>", re.S | re.I)
_OPEN_THINK = re.compile(r"\A\s*<think>", re.I)
_FENCE = re.compile(r"```[^\n`]*\n?(.*?)```", re.S)
# An opening bracket that can start JSON (prose like "[see above]" or "{name}" is not a candidate). NaN and
# Infinity count either way, so that a refused one gets a clear error.
_CANDIDATE = re.compile(
    r'\{\s*(?:["}]|\Z)|\[\s*(?:["{\[\]\-0-9]|true|false|null|NaN|Infinity'
    r"|(?:t|tr|tru|f|fa|fal|fals|n|nu|nul|N|Na|I|In|Inf|Infi|Infin|Infini|Infinit)?\Z)"
)
_OPENER = re.compile(r"[{\[]")
_VALUE_START = frozenset('{["-0123456789tfnNI')  # how a whole-text JSON value can begin
_SURROGATE = re.compile("[\ud800-\udfff]")
# Cheap signs that a loaded value may hold a lone surrogate or a number that overflowed to infinity.
_RISKY = re.compile(r"\\u[dD][89a-fA-F]|[\ud800-\udfff]|[0-9][eE][-+]?[0-9]{3}|[0-9]{300}")


def candidate_pattern() -> re.Pattern[str]:
    """The pattern of an opening bracket that can start JSON."""
    return _CANDIDATE


@dataclass(frozen=True)
class Extraction:
    """`complete`: `value` found; `truncated`: `value` is the prefix closed (or None); else see `reason`."""

    status: Literal["complete", "truncated", "invalid", "missing"]
    value: Any = None
    reason: str = ""


class RefusedValueError(ValueError):
    """Well-formed JSON text whose value is refused: a non-finite number, a lone surrogate, nesting too deep."""


def _no_constants(name: str) -> Any:
    raise RefusedValueError(f"{name} is not valid JSON (pass allow_nan=True to accept it)")


_NOT_FINITE = "a number is not finite (NaN, Infinity or out of range); pass allow_nan=True to accept it"


def _fix(text: str) -> str:
    return _SURROGATE.sub("\ufffd", text)


_DECODERS = {
    False: json.JSONDecoder(strict=False, parse_constant=_no_constants),
    True: json.JSONDecoder(strict=False),
}


_JSON_STRING = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"', re.S)
_NOT_BRACKET = re.compile(r"[^{}\[\]]++")
_PAIR = re.compile(r"\{\}|\[\]")


def _nested_deeper(src: str, limit: int) -> bool:
    """Whether the JSON text `src` nests deeper than `limit`: brackets only, innermost pairs peeled per pass."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", src))
    for _ in range(limit):
        brackets, peeled = _PAIR.subn("", brackets)
        if not brackets or not peeled:
            return False
    return bool(brackets)


def check_value(value: Any, src: str, *, allow_nan: bool = False, fix_surrogates: bool = False) -> Any:
    """`value` (loaded from the JSON text `src`) if every string is valid Unicode, every number finite
    (unless `allow_nan`) and nesting at most MAX_DEPTH; else RefusedValueError. `fix_surrogates` replaces
    lone surrogates with U+FFFD instead (in place). Walks the value only when `src` shows a sign of trouble."""
    if not isinstance(value, dict | list):
        return _check_scalar(value, allow_nan=allow_nan, fix_surrogates=fix_surrogates)
    if src.count("[") + src.count("{") > MAX_DEPTH and _nested_deeper(src, MAX_DEPTH):
        raise RefusedValueError(f"nested deeper than {MAX_DEPTH} levels")
    if _RISKY.search(src) is None:
        return value
    todo: list[Any] = [value]
    while todo:
        node = todo.pop()
        if isinstance(node, dict) and any(_SURROGATE.search(k) for k in node):
            if not fix_surrogates:
                raise RefusedValueError("a key holds a lone surrogate (not valid Unicode)")
            items = [(_fix(k), v) for k, v in node.items()]
            node.clear()
            node.update(items)
        keyed = node.items() if isinstance(node, dict) else enumerate(node)
        for key, member in list(keyed) if fix_surrogates else keyed:
            if isinstance(member, dict | list):
                todo.append(member)
            elif isinstance(member, str):
                if _SURROGATE.search(member):
                    if not fix_surrogates:
                        raise RefusedValueError("a string holds a lone surrogate (not valid Unicode)")
                    node[key] = _fix(member)
            elif isinstance(member, float) and not allow_nan and not math.isfinite(member):
                raise RefusedValueError(_NOT_FINITE)
    return value


def loads(text: str, *, allow_nan: bool = False, fix_surrogates: bool = False) -> Any:
    """`json.loads` allowing raw control characters in strings and refusing NaN/Infinity (unless
    `allow_nan`); then `check_value`. Every failure (deep nesting too) is a ValueError, a refused value
    of well-formed text a RefusedValueError."""
    try:
        value = _DECODERS[allow_nan].decode(text)
    except RecursionError:
        raise RefusedValueError(f"nested deeper than {MAX_DEPTH} levels") from None
    if not isinstance(value, dict | list):
        return _check_scalar(value, allow_nan=allow_nan, fix_surrogates=fix_surrogates)
    return check_value(value, text, allow_nan=allow_nan, fix_surrogates=fix_surrogates)


def _check_scalar(value: Any, *, allow_nan: bool = False, fix_surrogates: bool = False) -> Any:
    """`check_value` for a value that is not a container."""
    if isinstance(value, str) and _SURROGATE.search(value):
        if not fix_surrogates:
            raise RefusedValueError("a string holds a lone surrogate (not valid Unicode)")
        return _fix(value)
    if isinstance(value, float) and not allow_nan and not math.isfinite(value):
        raise RefusedValueError(_NOT_FINITE)
    return value


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


def _decode_at(text: str, start: int, allow_nan: bool) -> tuple[Any, int] | None:
    """The complete value at `text[start]` and its end, by the C decoder, or None (then the scanner says why).

    It reads windows growing 8x from 512 characters, since its error message counts the lines of everything
    before the error: on the whole text, many malformed candidates would cost quadratic time.
    """
    decoder, n, width = _DECODERS[allow_nan], len(text), 512
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
        if (end := _span_end(spans, start)) is not None:
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
            if inner < (len(text) if close is None else close) and _span_end(spans, inner) is None:
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
    for fence in _FENCE.finditer(text):
        if _span_end(spans, fence.start()) is not None:
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

"""Opt-in repair of common slips: trailing or missing commas, single quotes, comments, Python literals,
bare keys, a closing bracket of the wrong kind, a lone surrogate (made U+FFFD).

The whole answer is repaired, never a fragment of it: the first bracket that starts a structure (outside
the prompt's echo) is read as a whole, and if it cannot be repaired the next one after its end is tried.
Strict mode still refuses a cut-off value. One linear pass of a tokenizer writes plain JSON that `json.loads`
then reads, and inputs over `MAX_REPAIR_CHARS` are refused with an error saying how to raise the cap.

>>> repair_json("Sure: {'answer': True, 'items': [1, 2,],} // done", strict=True)
{'answer': True, 'items': [1, 2]}
>>> repair_json('{"genres": ["horror"] "movies": ["Alien"]}')
{'genres': ['horror'], 'movies': ['Alien']}
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from parsers.brackets import lenient_end
from parsers.errors import OutputParseError, TruncatedOutputError
from parsers.extract import FENCE, echo_spans, span_end, strip_preamble
from parsers.scan import MAX_DEPTH
from parsers.strict_json import loads

__all__ = ["MAX_REPAIR_CHARS", "repair_json"]

MAX_REPAIR_CHARS = 2_000_000
"""Longest output `repair_json` takes (about a second of work); raise it with `max_repair_chars=`."""

_OPENER = re.compile(r"[{\[]")
# One significant token per match, after any whitespace and comments (group numbers below).
_TOKEN = re.compile(
    r"""
    (?:\s++|//[^\n]*+|\#[^\n]*+|/\*(?:.*?\*/|.*\Z))*+
    (?:
      ([{\[])
    | ([}\]])
    | (,)
    | (:)
    | ("[^"\\]*+(?:\\.[^"\\]*+)*+")
    | ('[^'\\]*+(?:\\.[^'\\]*+)*+')
    | ([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?(?![\w.]))
    | ((?=[-+.0-9])[-+]?[0-9]*\.?[0-9]*(?:[eE][-+]?[0-9]*)?\Z)
    | ([^\W\d][\w$]*|\$[\w$]*|-Infinity(?!\w))
    | ("[^"\\]*+(?:\\.[^"\\]*+)*+\\?\Z)
    | ('[^'\\]*+(?:\\.[^'\\]*+)*+\\?\Z)
    | (.)
    )?
    """,
    re.S | re.X,
)
_OPEN, _CLOSER, _COMMA, _COLON_T, _DQ, _SQ, _NUM, _NUM_CUT, _WORD, _DQ_CUT, _SQ_CUT, _OTHER = range(1, 13)
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)|\"", re.S)
_HALF_ESCAPE = re.compile(r"\\(?:u[0-9a-fA-F]{0,3})?\Z")
_WORDS = {"true": "true", "false": "false", "null": "null", "True": "true", "False": "false", "None": "null"}
_NON_FINITE = {"NaN", "Infinity", "-Infinity"}
_LITERAL_PREFIXES = {w[:k] for w in (*_WORDS, *_NON_FINITE) for k in range(1, len(w))}
_CLOSE = {"{": "}", "[": "]"}
_KEY, _COLON, _VALUE = range(3)  # what an object expects next (a list always takes a value or its end)


class _Bad(Exception):
    """The structure cannot be repaired; `at` is where the scan stopped."""

    def __init__(self, reason: str, at: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.at = at


def _fix_escape(m: re.Match[str]) -> str:
    if m.group(0) == '"':
        return '\\"'
    body = m.group(1)
    if body == "'":
        return "'"
    if len(body) == 5 or body in '"\\/bfnrt':
        return m.group(0)
    return "\\\\" + body  # an escape JSON does not have: keep the backslash as a character


def _json_string(token: str, quote: str, closed: bool) -> str:
    """A double- or single-quoted (possibly cut-off) string token as a JSON string."""
    body = token[1:-1] if closed else _HALF_ESCAPE.sub("", token[1:])
    if "\\" in body or (quote == "'" and '"' in body):
        body = _ESCAPE.sub(_fix_escape, body)
    return f'"{body}"'


def _json_number(token: str) -> str:
    if _JSON_NUMBER.fullmatch(token):
        return token
    text = token.lstrip("+")
    if "." in text or "e" in text or "E" in text:
        value = float(text)
        return repr(value) if math.isfinite(value) else ("-1e999" if value < 0 else "1e999")
    return str(int(text))  # leading zeros


def _repair_one(text: str, start: int, hi: int, allow_nan: bool) -> tuple[bool, str, int]:
    """Rewrite the structure opening at `text[start]` as JSON text: (closed, json_text, end).

    closed=False: `text[:hi]` ended inside it, and json_text is the prefix closed. Raises _Bad.
    """
    out: list[str] = []
    append = out.append
    outer: list[tuple[str, int, int, int]] = []  # the containers around the current one, saved
    kind = ""  # the current container: "{" or "[" ("" before the first bracket)
    count = 0  # its members written
    state = _KEY  # an object's: what it expects next
    safe = 0  # output length after its last whole member
    for m in _TOKEN.finditer(text, start, hi):
        t = m.lastindex
        if t is None:
            continue  # only whitespace and comments left
        at = m.start(t)
        if kind == "{" and state != _VALUE:
            if state == _COLON:
                if t != _COLON_T:
                    raise _Bad(f"expected ':' at char {at}", at)
                append(":")
                state = _VALUE
                continue
            if t == _COMMA:
                continue
            if t != _CLOSER:
                if t == _DQ or t == _SQ:
                    key = _json_string(m.group(t), "'" if t == _SQ else '"', True)
                elif t == _WORD or t == _NUM:  # a bare key, JavaScript style (or a Python number key)
                    key = json.dumps(m.group(t))
                elif t == _DQ_CUT or t == _SQ_CUT or t == _NUM_CUT:
                    break  # a cut-off key
                else:
                    raise _Bad(f"expected a key at char {at}", at)
                if count:
                    append(",")
                append(key)
                state = _COLON
                continue
        elif t == _COMMA:
            if kind == "{":
                raise _Bad(f"expected a value at char {at}", at)
            continue
        elif t == _COLON_T:
            raise _Bad(f"unexpected ':' at char {at}", at)
        if t == _CLOSER:
            if kind == "{" and state != _KEY:
                raise _Bad(f"expected a value at char {at}", at)
            closer = m.group(t)
            # A closer of the other kind closes up to the innermost container of its kind, else just one.
            n = 1
            if _CLOSE[kind] != closer:
                n += next((len(outer) - d for d in range(len(outer) - 1, -1, -1) if _CLOSE[outer[d][0]] == closer), 0)
            for _ in range(n):
                append(_CLOSE[kind])
                if not outer:
                    return True, "".join(out), m.end()
                kind, count, state, safe = outer.pop()
                count += 1
                state = _KEY
                safe = len(out)
            continue
        # A value (in a list, or after an object's colon).
        if kind == "[" and count:
            append(",")
        if t == _OPEN:
            if len(outer) + 1 >= MAX_DEPTH:
                raise _Bad(f"nested deeper than {MAX_DEPTH} levels at char {at}", at)
            if kind:
                outer.append((kind, count, state, safe))
            kind = m.group(t)
            append(kind)
            count, state, safe = 0, _KEY, len(out)
            continue
        if not kind:
            raise _Bad(f"expected '{{' or '[' at char {at}", at)
        if t == _DQ:
            token = m.group(t)
            append(_json_string(token, '"', True) if "\\" in token else token)
        elif t == _NUM:
            try:
                append(_json_number(m.group(t)))
            except ValueError:  # an integer past Python's 4300-digit limit
                raise _Bad(f"number too long at char {at}", at) from None
        elif t == _SQ:
            append(_json_string(m.group(t), "'", True))
        elif t == _WORD:
            word = m.group(t)
            if word in _WORDS:
                append(_WORDS[word])
            elif word in _NON_FINITE:
                if not allow_nan:
                    raise _Bad(f"{word} is not a JSON number (pass allow_nan=True to accept it)", at)
                append(word)
            elif m.end() >= hi and word in _LITERAL_PREFIXES:
                break  # a literal cut off
            else:
                raise _Bad(f"unexpected {word[:20]!r} at char {at}", at)
        elif t == _NUM_CUT:
            break  # a number cut off
        elif t == _DQ_CUT or t == _SQ_CUT:
            append(_json_string(m.group(t), "'" if t == _SQ_CUT else '"', False))
            count, state, safe = count + 1, _KEY, len(out)
            break
        else:
            raise _Bad(f"unexpected {m.group(t)!r} at char {at}", at)
        count += 1
        state = _KEY
        safe = len(out)
    if not kind:
        raise _Bad("no JSON object or array found", hi)
    del out[safe:]  # a key without its value, a comma without the next value
    closers = _CLOSE[kind] + "".join(_CLOSE[saved[0]] for saved in reversed(outer))
    return False, "".join(out) + closers, hi


def repair_json(
    text: str,
    *,
    strict: bool = True,
    prompt: str | None = None,
    allow_nan: bool = False,
    max_chars: int = MAX_REPAIR_CHARS,
) -> dict[str, Any] | list[Any]:
    """The first object/array in `text`, repaired as a whole; typed errors when there is none, it cannot be
    repaired, it is cut off (strict), or `text` is longer than `max_chars`."""
    if len(text) > max_chars:
        raise OutputParseError(
            f"the output is {len(text):,} characters, over the repair limit of {max_chars:,} "
            "(raise it with max_repair_chars=)",
            raw=text,
        )
    cleaned = strip_preamble(text)
    spans = echo_spans(cleaned, prompt)
    fence = next((f for f in FENCE.finditer(cleaned) if span_end(spans, f.start()) is None), None)
    lo, hi = fence.span(1) if fence else (0, len(cleaned))
    first_bad: _Bad | None = None
    pos = lo
    while (m := _OPENER.search(cleaned, pos, hi)) is not None:
        start = m.start()
        if (end := span_end(spans, start)) is not None:
            pos = end
            continue
        try:
            closed, repaired, end = _repair_one(cleaned, start, hi, allow_nan)
            value = loads(repaired, allow_nan=allow_nan, fix_surrogates=True)
        except _Bad as err:
            first_bad = first_bad or err
            after = lenient_end(cleaned, start, hi)
            if after is None:
                break  # never closed: everything after it is inside the broken value
            pos = max(after, err.at + 1)
            continue
        except ValueError as err:  # a refused value (not finite, too deep) in the repaired JSON
            raise OutputParseError(f"could not repair the JSON: {err}", raw=text) from None
        if not closed and strict:
            raise TruncatedOutputError(
                "the JSON value is cut off (strict mode does not close it)", raw=text, partial=value
            )
        return value  # type: ignore[no-any-return]
    if first_bad is None:
        raise OutputParseError("no JSON object or array found", raw=text)
    raise OutputParseError(f"could not repair the JSON: {first_bad.reason}", raw=text)

"""A strict JSON scanner that tells a complete value from a cut-off one and from a malformed one.

Stock parsers either fail on a cut-off value or close it silently; this scanner validates the grammar from an
opening bracket and reports where the value ends, that the text stopped inside a valid prefix (with a
best-effort closed version for streaming), or the first offending character.

>>> scan('{"a": [1, 2]} tail', 0).end
13
>>> s = scan('{"a": [1, 2', 0)
>>> s.status, s.completion
('truncated', '{"a": [1, 2]}')
>>> scan('{"a": [1, 2}', 0).status
'invalid'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["MAX_DEPTH", "Scan", "scan"]

MAX_DEPTH = 256  # below json's recursion limit even inside deep call stacks
_WS = re.compile(r"[ \t\n\r]*")
_STRING_RUN = re.compile(r'[^"\\]*')
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_NUMBER_CHARS = re.compile(r"[-+0-9.eE]*")
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_LITERALS = ("true", "false", "null")
_CLOSE = {"{": "}", "[": "]"}

# Parser states: what may come next.
_VALUE, _VALUE_OR_CLOSE, _KEY_OR_CLOSE, _KEY, _COLON, _COMMA_OR_CLOSE = range(6)
_EXPECTED = {
    _VALUE: "a value",
    _VALUE_OR_CLOSE: "a value or ']'",
    _KEY_OR_CLOSE: "a string key or '}'",
    _KEY: "a string key",
    _COLON: "':'",
}


@dataclass(frozen=True)
class Scan:
    """Result of `scan`: `end` is one past the value (complete) or the offending index (invalid)."""

    status: Literal["complete", "truncated", "invalid"]
    start: int
    end: int
    reason: str = ""
    completion: str | None = None  # truncated only: the prefix closed into valid JSON text


class _EOF(Exception):
    """The text ended inside a string, number or literal; carries how to close it."""

    def __init__(self, closed_upto: int | None) -> None:
        self.closed_upto = closed_upto  # index to cut at before closing; None: cut back to the last safe point


def _string_end(text: str, i: int) -> int:
    """Index after the closing quote of the string whose opening quote is at `i - 1`."""
    n = len(text)
    while True:
        i = _STRING_RUN.match(text, i).end()  # type: ignore[union-attr]
        if i >= n:
            raise _EOF(n)
        if text[i] == '"':
            return i + 1
        if i + 1 >= n:
            raise _EOF(i)  # a lone trailing backslash
        esc = text[i + 1]
        if esc in '"\\/bfnrt':
            i += 2
        elif esc == "u" and _HEX4.match(text, i + 2):
            i += 6
        elif esc == "u" and n - (i + 2) < 4 and all(c in "0123456789abcdefABCDEF" for c in text[i + 2 :]):
            raise _EOF(i)
        else:
            raise ValueError(f"bad escape '\\{esc}' at char {i}")


def _scalar_end(text: str, i: int) -> int:
    """Index after the number or literal at `i`."""
    n = len(text)
    if text[i] in "-0123456789":
        run = _NUMBER_CHARS.match(text, i).end()  # type: ignore[union-attr]
        m = _NUMBER.match(text, i)
        if run >= n:
            raise _EOF(n if m and m.end() == n else None)
        if not m:
            raise ValueError(f"bad number at char {i}")
        return m.end()
    for word in _LITERALS:
        if text.startswith(word, i):
            return i + len(word)
        if n - i < len(word) and word.startswith(text[i:]):
            raise _EOF(None)
    raise ValueError(f"expected a value at char {i}")


def scan(text: str, start: int) -> Scan:
    """Scan the object or array opening at `text[start]`."""
    n = len(text)
    stack: list[str] = []
    state = _VALUE
    safe_pos, safe_depth = start, 0  # a prefix that closes into valid JSON, and how deep it was
    i = start

    def closers(depth: int) -> str:
        return "".join(_CLOSE[b] for b in reversed(stack[:depth]))

    def truncated(upto: int | None, depth: int, suffix: str = "") -> Scan:
        if upto is None:  # cut back to the last safe point
            body = text[start:safe_pos] + closers(safe_depth) if safe_depth else None
        else:
            body = text[start:upto] + suffix + closers(depth)
        return Scan("truncated", start, n, "the JSON value is cut off", body)

    while True:
        i = _WS.match(text, i).end()  # type: ignore[union-attr]
        if i >= n:
            return truncated(None, 0)
        c = text[i]
        closing = False
        try:
            if state in (_VALUE, _VALUE_OR_CLOSE):
                if c == "]" and state == _VALUE_OR_CLOSE:
                    closing = True
                elif c in "{[":
                    if len(stack) >= MAX_DEPTH:
                        return Scan("invalid", start, i, f"nested deeper than {MAX_DEPTH} levels at char {i}")
                    stack.append(c)
                    i += 1
                    state = _KEY_OR_CLOSE if c == "{" else _VALUE_OR_CLOSE
                    safe_pos, safe_depth = i, len(stack)
                    continue
                elif c == '"':
                    try:
                        i = _string_end(text, i + 1)
                    except _EOF as eof:  # close a cut-off string value (minus a half-written escape)
                        return truncated(eof.closed_upto, len(stack), '"')
                else:
                    try:
                        i = _scalar_end(text, i)
                    except _EOF as eof:
                        return truncated(eof.closed_upto, len(stack))
            elif state in (_KEY_OR_CLOSE, _KEY):
                if c == "}" and state == _KEY_OR_CLOSE:
                    closing = True
                elif c == '"':
                    try:
                        i = _string_end(text, i + 1)
                    except _EOF:
                        return truncated(None, 0)  # a half-written key: cut back to the last member
                    state = _COLON
                    continue
                else:
                    return Scan("invalid", start, i, f"expected {_EXPECTED[state]} at char {i}")
            elif state == _COLON:
                if c != ":":
                    return Scan("invalid", start, i, f"expected ':' at char {i}")
                i += 1
                state = _VALUE
                continue
            else:  # _COMMA_OR_CLOSE
                top = stack[-1]
                if c == ",":
                    i += 1
                    state = _KEY if top == "{" else _VALUE
                    continue
                if c != _CLOSE[top]:
                    return Scan("invalid", start, i, f"expected ',' or '{_CLOSE[top]}' at char {i}")
                closing = True
        except ValueError as err:
            return Scan("invalid", start, i, str(err))
        if closing:
            if not stack or _CLOSE[stack[-1]] != c:
                return Scan("invalid", start, i, f"unexpected '{c}' at char {i}")
            stack.pop()
            i += 1
        # A value just ended.
        if not stack:
            return Scan("complete", start, i)
        state = _COMMA_OR_CLOSE
        safe_pos, safe_depth = i, len(stack)

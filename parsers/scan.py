"""A strict JSON scanner that tells a complete value from a cut-off one and from a malformed one.

Stock parsers either fail on a cut-off value or close it silently; this scanner validates the grammar from an
opening bracket and reports where the value ends, that the text stopped inside a valid prefix (with a
best-effort closed version for streaming), or the first offending character. Strings must be valid Unicode
(a lone surrogate escape is an error); NaN and Infinity are refused unless `allow_nan=True`.

`Scanner` is the same scan, resumable: fed piece by piece it examines each character about once, and with
`build=True` it also builds the value, so a stream's partial value costs no re-parse.

>>> scan('{"a": [1, 2]} tail', 0).end
13
>>> s = scan('{"a": [1, 2', 0)
>>> s.status, s.completion
('truncated', '{"a": [1, 2]}')
>>> scan('{"a": [1, 2}', 0).status
'invalid'
>>> scan('["\\\\ud83c"]', 0).reason
'lone surrogate \\\\ud83c at char 2'
>>> sc = Scanner(build=True)
>>> for piece in ['{"a": [1, ', '2], "b": "x', 'y"}']:
...     sc.feed(piece)
...     print(sc.status, sc.value())
truncated {'a': [1]}
truncated {'a': [1, 2], 'b': 'x'}
complete {'a': [1, 2], 'b': 'xy'}
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from parsers.builder import ValueBuilder
from parsers.tokens import CLOSE, EndOfText, scalar_end, scalar_value, string_end

__all__ = ["MAX_DEPTH", "Scan", "Scanner", "scan"]

MAX_DEPTH = 256  # below json's recursion limit even inside deep call stacks
_WS = re.compile(r"[ \t\n\r]*")

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


class Scanner:
    """Resumable strict scan of the object or array that the first piece starts with.

    `feed` pieces as they arrive; `status` is "truncated" until the value is "complete" (then `end` is one past
    it, counted from the first piece's start) or "invalid" (`reason` says why). Each character is examined
    about once (`scanned` counts them). With `build=True`, `value()` is the value so far, closed the way
    `scan(...).completion` closes it; consecutive values share their finished members.
    """

    def __init__(self, *, allow_nan: bool = False, build: bool = False) -> None:
        self.allow_nan = allow_nan
        self.build = build
        self.status: Literal["complete", "truncated", "invalid"] = "truncated"
        self.reason = ""
        self.end = 0
        self.scanned = 0
        self._stack: list[str] = []
        self._state = _VALUE
        self._in_string = 0  # 1: inside a key, 2: inside a string value (cut at the end of the last piece)
        self._safe = 0  # a prefix that closes into valid JSON, and how deep it was
        self._safe_depth = 0
        self._cut: int | None = None  # how the text seen so far closes (see EndOfText)
        self._suffix = ""
        self._tail = ""  # unconsumed text (a token cut at the end of the last piece)
        self._offset = 0  # index of _tail[0] from the first piece's start
        self._builder = ValueBuilder(allow_nan=allow_nan) if build else None

    # -- feeding --------------------------------------------------------------------------------------------
    def feed(self, piece: str) -> None:
        if self.status != "truncated" or not piece:
            return
        text = self._tail + piece if self._tail else piece
        self.scanned += len(text)
        i = self._run(text, 0)
        if self.status == "truncated":
            self._offset += i
            self._tail = text[i:]
        else:
            self._tail = ""

    def _invalid(self, i: int, reason: str) -> int:
        self.status, self.end, self.reason = "invalid", self._offset + i, reason
        return i

    def _string(self, text: str, start: int, at: int) -> tuple[int, bool]:
        """Read the string (`_in_string` says key or value) whose content starts at `start`: (where the scan
        goes on, True), or (what `_run` returns, False) when the text ends inside it or it is invalid at `at`."""
        try:
            j = string_end(text, start)
        except EndOfText as eof:
            return self._string_cut(text, start, eof.cut or 0), False
        except ValueError as err:
            return self._invalid(at, str(err)), False
        self._string_done(text, start, j)
        return j, True

    def _string_cut(self, text: str, start: int, cut: int) -> int:
        """The text ended inside a string whose content (from `start`) is valid up to `cut`: a value is closed
        there (minus a half-written escape), a half-written key is cut back to the last member."""
        if self._builder is not None:
            self._builder.cut_string(text[start:cut], key=self._in_string == 1)
        self._cut, self._suffix = (self._offset + cut, '"') if self._in_string == 2 else (None, "")
        return cut

    def _string_done(self, text: str, start: int, j: int) -> None:
        """A string whose last content piece starts at `start` closed at `j - 1`."""
        kind = self._in_string
        self._in_string = 0
        if self._builder is not None:
            self._builder.end_string(text[start : j - 1], key=kind == 1)
        if kind == 1:
            self._state = _COLON
        else:
            self._state = _COMMA_OR_CLOSE
            self._safe, self._safe_depth = self._offset + j, len(self._stack)

    def _run(self, text: str, i: int) -> int:
        """Scan `text` from `i`; returns where the next piece's scan resumes (or the end/offending index)."""
        n = len(text)
        stack = self._stack
        build = self._builder
        allow_nan = self.allow_nan
        if build is not None:
            build.drop_number()
        if self._in_string:  # resume inside a string cut at the end of the last piece
            i, going = self._string(text, i, i)
            if not going:
                return i
        while True:
            i = _WS.match(text, i).end()  # type: ignore[union-attr]
            if i >= n:
                self._cut, self._suffix = None, ""
                return n
            c = text[i]
            state = self._state
            closing = False
            if c == '"' and state <= _KEY and stack:  # a string value or key (at the top level, an error below)
                self._in_string = 1 if state >= _KEY_OR_CLOSE else 2
                i, going = self._string(text, i + 1, i)
                if not going:
                    return i
                continue
            if state <= _VALUE_OR_CLOSE:
                if not stack and c != "{" and c != "[":
                    return self._invalid(i, f"expected '{{' or '[' at char {i}")
                if c == "]" and state == _VALUE_OR_CLOSE:
                    closing = True
                elif c == "{" or c == "[":
                    if len(stack) >= MAX_DEPTH:
                        return self._invalid(i, f"nested deeper than {MAX_DEPTH} levels at char {i}")
                    stack.append(c)
                    i += 1
                    self._state = _KEY_OR_CLOSE if c == "{" else _VALUE_OR_CLOSE
                    self._safe, self._safe_depth = self._offset + i, len(stack)
                    if build is not None:
                        build.open(c)
                    continue
                else:
                    try:
                        j = scalar_end(text, i, allow_nan)
                    except EndOfText as eof:
                        self._cut, self._suffix = (None if eof.cut is None else self._offset + eof.cut), ""
                        if build is not None and eof.cut is not None:
                            build.cut_number(text[i : eof.cut])
                        return i  # the token is scanned again, whole, with the next piece
                    except ValueError as err:
                        return self._invalid(i, str(err))
                    if build is not None:
                        try:
                            build.attach(scalar_value(text[i:j], allow_nan))
                        except ValueError as err:
                            return self._invalid(i, str(err))
                    i = j
            elif state <= _KEY:
                if c == "}" and state == _KEY_OR_CLOSE:
                    closing = True
                else:
                    return self._invalid(i, f"expected {_EXPECTED[state]} at char {i}")
            elif state == _COLON:
                if c != ":":
                    return self._invalid(i, f"expected ':' at char {i}")
                i += 1
                self._state = _VALUE
                continue
            else:  # _COMMA_OR_CLOSE
                top = stack[-1]
                if c == ",":
                    i += 1
                    self._state = _KEY if top == "{" else _VALUE
                    continue
                if c != CLOSE[top]:
                    return self._invalid(i, f"expected ',' or '{CLOSE[top]}' at char {i}")
                closing = True
            if closing:
                stack.pop()
                i += 1
                if build is not None:
                    build.close()
            # A value just ended.
            if not stack:
                self.status, self.end = "complete", self._offset + i
                return i
            self._state = _COMMA_OR_CLOSE
            self._safe, self._safe_depth = self._offset + i, len(stack)

    # -- results --------------------------------------------------------------------------------------------
    def completion(self, text: str, start: int) -> str | None:
        """The text scanned so far (`text[start:]`, one-shot use) closed into valid JSON text."""
        closers = "".join(CLOSE[b] for b in reversed(self._stack[: self._safe_depth]))
        if self._cut is None:
            return text[start : self._safe] + closers if self._safe_depth else None
        return text[start : self._cut] + self._suffix + "".join(CLOSE[b] for b in reversed(self._stack))

    @property
    def version(self) -> int:
        """build=True: bumped whenever `value()` would change."""
        return 0 if self._builder is None else self._builder.version

    def size(self) -> int:
        """build=True: about how much copying `value()` does (see `ValueBuilder.size`)."""
        return 0 if self._builder is None else self._builder.size()

    def value(self) -> Any:
        """build=True: the complete value, or the value so far closed (None before the first bracket)."""
        return None if self._builder is None else self._builder.value(open_string=self._in_string == 2)


def scan(text: str, start: int, *, allow_nan: bool = False) -> Scan:
    """Scan the object or array opening at `text[start]`."""
    scanner = Scanner(allow_nan=allow_nan)
    i = scanner._run(text, start)
    if scanner.status == "complete":
        return Scan("complete", start, scanner.end)
    if scanner.status == "invalid":
        return Scan("invalid", start, i, scanner.reason)
    return Scan("truncated", start, len(text), "the JSON value is cut off", scanner.completion(text, start))

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

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["MAX_DEPTH", "BracketMatcher", "Scan", "Scanner", "scan"]

MAX_DEPTH = 256  # below json's recursion limit even inside deep call stacks
_WS = re.compile(r"[ \t\n\r]*")
# Valid string content: plain characters, simple escapes, non-surrogate \u escapes and whole surrogate pairs.
_STRING_BODY = re.compile(
    r'(?:[^"\\\ud800-\udfff]++'
    r'|\\["\\/bfnrt]'
    r"|\\u(?![dD][89a-fA-F])[0-9a-fA-F]{4}"
    r"|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2})*+"
)
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_HEX_PREFIX = re.compile(r"[0-9a-fA-F]{0,3}")
_LOW_PREFIX = re.compile(r"(?:\\(?:u(?:[dD](?:[c-fC-F][0-9a-fA-F]{0,2})?)?)?)?")  # a low surrogate escape, begun
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_NUMBER_CHARS = re.compile(r"[-+0-9.eE]*")
_LITERALS: dict[str, Any] = {"true": True, "false": False, "null": None}
_NON_FINITE: dict[str, Any] = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_WITH_NAN = {**_LITERALS, **_NON_FINITE}
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
_MISSING: Any = object()


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

    def __init__(self, cut: int | None) -> None:
        self.cut = cut  # index to cut at before closing; None: cut back to the last safe point


def _string_end(text: str, i: int) -> int:
    """Index after the closing quote of the string whose content starts at `i`."""
    n = len(text)
    j = _STRING_BODY.match(text, i).end()  # type: ignore[union-attr]
    if j >= n:
        raise _EOF(n)
    c = text[j]
    if c == '"':
        return j + 1
    if c != "\\":
        raise ValueError(f"lone surrogate U+{ord(c):04X} at char {j}")
    if j + 1 >= n:
        raise _EOF(j)  # a lone trailing backslash
    if text[j + 1] != "u":
        raise ValueError(f"bad escape {text[j : j + 2]!r} at char {j}")
    digits = text[j + 2 : j + 6]
    if not _HEX4.fullmatch(digits):
        if j + 6 > n and _HEX_PREFIX.fullmatch(digits):
            raise _EOF(j)  # a half-written \u escape
        raise ValueError(f"bad escape {text[j : j + 2]!r} at char {j}")
    if digits[0] in "dD" and digits[1] in "89abAB":  # a high surrogate the pattern did not take with a low one
        rest = text[j + 6 : j + 12]
        if j + 12 > n and _LOW_PREFIX.fullmatch(rest):
            raise _EOF(j)  # its low half may still come
    raise ValueError(f"lone surrogate \\u{digits} at char {j}")


def _scalar_end(text: str, i: int, allow_nan: bool) -> int:
    """Index after the number or literal at `i`."""
    n = len(text)
    if text[i] in "-0123456789" and not text.startswith("-I", i):
        run = _NUMBER_CHARS.match(text, i).end()  # type: ignore[union-attr]
        m = _NUMBER.match(text, i)
        if run >= n:
            raise _EOF(n if m and m.end() == n else None)
        if not m:
            raise ValueError(f"bad number at char {i}")
        return m.end()
    for word in _WITH_NAN if allow_nan else _LITERALS:
        if text.startswith(word, i):
            return i + len(word)
        if n - i < len(word) and word.startswith(text[i:]):
            raise _EOF(None)
    refused = next((w for w in _NON_FINITE if text.startswith(w, i)), None)
    if refused is not None:
        raise ValueError(f"expected a value at char {i} ({refused} is not JSON; pass allow_nan=True to accept it)")
    raise ValueError(f"expected a value at char {i}")


def _decode(raw: str) -> str:
    """The text of validated string content (no quotes)."""
    return json.loads(f'"{raw}"', strict=False) if "\\" in raw else raw


def _scalar(token: str, allow_nan: bool) -> Any:
    """The value of a validated number or literal token; ValueError if it is not finite (and not allowed)."""
    if token in _WITH_NAN:
        return _WITH_NAN[token]
    if "." in token or "e" in token or "E" in token:
        value = float(token)
        if not allow_nan and not math.isfinite(value):
            raise ValueError(f"number {token[:40]} is out of range (pass allow_nan=True to accept it)")
        return value
    return int(token)  # ValueError past Python's 4300-digit limit


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
        self.version = 0  # bumped whenever value() would change
        self._stack: list[str] = []
        self._state = _VALUE
        self._in_string = 0  # 1: inside a key, 2: inside a string value (cut at the end of the last piece)
        self._safe = 0  # a prefix that closes into valid JSON, and how deep it was
        self._safe_depth = 0
        self._cut: int | None = None  # how the text seen so far closes (see _EOF)
        self._suffix = ""
        self._tail = ""  # unconsumed text (a token cut at the end of the last piece)
        self._offset = 0  # index of _tail[0] from the first piece's start
        self._frames: list[Any] = []  # build: the open containers, holding their finished members
        self._keys: list[Any] = []  # build: per open object, the key whose value is being read
        self._parts: list[str] = []  # build: decoded pieces of the string being read
        self._chars = 0  # build: their length
        self._number = ""  # build: a number cut at the end of the text that is complete so far
        self._root: Any = None

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

    def _string_cut(self, text: str, start: int, cut: int) -> int:
        """The text ended inside a string whose content (from `start`) is valid up to `cut`."""
        if self.build and cut > start:
            self._parts.append(_decode(text[start:cut]))
            self._chars += cut - start
        if self.build and self._in_string == 2:
            # value() changes even for an opened, still empty string value: the key now shows with "".
            self.version += 1
        self._cut, self._suffix = (self._offset + cut, '"') if self._in_string == 2 else (None, "")
        return cut

    def _string_done(self, text: str, start: int, j: int) -> None:
        """A string whose last content piece starts at `start` closed at `j - 1`."""
        kind = self._in_string
        self._in_string = 0
        if self.build:
            tail = _decode(text[start : j - 1])
            value = "".join(self._parts) + tail if self._parts else tail
            self._parts, self._chars = [], 0
            if kind == 1:
                self._keys[-1] = value
            else:
                self._attach(value)
        if kind == 1:
            self._state = _COLON
        else:
            self._state = _COMMA_OR_CLOSE
            self._safe, self._safe_depth = self._offset + j, len(self._stack)

    def _attach(self, value: Any) -> None:
        frame = self._frames[-1]
        if type(frame) is list:
            frame.append(value)
        else:
            frame[self._keys[-1]] = value
            self._keys[-1] = None
        self.version += 1

    def _run(self, text: str, i: int) -> int:
        """Scan `text` from `i`; returns where the next piece's scan resumes (or the end/offending index)."""
        n = len(text)
        stack = self._stack
        build = self.build
        allow_nan = self.allow_nan
        if self._number:
            self._number = ""
            self.version += 1
        if self._in_string:  # resume inside a string cut at the end of the last piece
            try:
                j = _string_end(text, i)
            except _EOF as eof:
                return self._string_cut(text, i, eof.cut or 0)
            except ValueError as err:
                return self._invalid(i, str(err))
            self._string_done(text, i, j)
            i = j
        while True:
            i = _WS.match(text, i).end()  # type: ignore[union-attr]
            if i >= n:
                self._cut, self._suffix = None, ""
                return n
            c = text[i]
            state = self._state
            closing = False
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
                    if build:
                        self._frames.append({} if c == "{" else [])
                        self._keys.append(None)
                        self.version += 1
                    continue
                elif c == '"':
                    self._in_string = 2
                    try:
                        j = _string_end(text, i + 1)
                    except _EOF as eof:  # close a cut-off string value (minus a half-written escape)
                        return self._string_cut(text, i + 1, eof.cut or 0)
                    except ValueError as err:
                        return self._invalid(i, str(err))
                    self._string_done(text, i + 1, j)
                    i = j
                    continue
                else:
                    try:
                        j = _scalar_end(text, i, allow_nan)
                    except _EOF as eof:
                        self._cut, self._suffix = (None if eof.cut is None else self._offset + eof.cut), ""
                        if build and eof.cut is not None:
                            self._number = text[i : eof.cut]
                            self.version += 1
                        return i  # the token is scanned again, whole, with the next piece
                    except ValueError as err:
                        return self._invalid(i, str(err))
                    if build:
                        try:
                            self._attach(_scalar(text[i:j], allow_nan))
                        except ValueError as err:
                            return self._invalid(i, str(err))
                    i = j
            elif state <= _KEY:
                if c == "}" and state == _KEY_OR_CLOSE:
                    closing = True
                elif c == '"':
                    self._in_string = 1
                    try:
                        j = _string_end(text, i + 1)
                    except _EOF as eof:  # a half-written key: cut back to the last member
                        return self._string_cut(text, i + 1, eof.cut or 0)
                    except ValueError as err:
                        return self._invalid(i, str(err))
                    self._string_done(text, i + 1, j)
                    i = j
                    continue
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
                if c != _CLOSE[top]:
                    return self._invalid(i, f"expected ',' or '{_CLOSE[top]}' at char {i}")
                closing = True
            if closing:
                stack.pop()
                i += 1
                if build:
                    done = self._frames.pop()
                    self._keys.pop()
                    if self._frames:
                        self._attach(done)
                    else:
                        self._root = done
            # A value just ended.
            if not stack:
                self.status, self.end = "complete", self._offset + i
                self.version += 1
                return i
            self._state = _COMMA_OR_CLOSE
            self._safe, self._safe_depth = self._offset + i, len(stack)

    # -- results --------------------------------------------------------------------------------------------
    def completion(self, text: str, start: int) -> str | None:
        """The text scanned so far (`text[start:]`, one-shot use) closed into valid JSON text."""
        closers = "".join(_CLOSE[b] for b in reversed(self._stack[: self._safe_depth]))
        if self._cut is None:
            return text[start : self._safe] + closers if self._safe_depth else None
        return text[start : self._cut] + self._suffix + "".join(_CLOSE[b] for b in reversed(self._stack))

    def size(self) -> int:
        """About how much copying `value()` does: members of the open containers plus the open string / 8."""
        return sum(len(f) for f in self._frames) + self._chars // 8

    def value(self) -> Any:
        """build=True: the complete value, or the value so far closed (None before the first bracket)."""
        if self.status == "complete":
            return self._root
        if not self._frames:
            return None
        node: Any = _MISSING
        if self._in_string == 2:
            if len(self._parts) > 1:
                self._parts[:] = ["".join(self._parts)]
            node = self._parts[0] if self._parts else ""
        elif self._number:
            try:
                node = _scalar(self._number, self.allow_nan)
            except ValueError:
                node = _MISSING
        for frame, key in zip(reversed(self._frames), reversed(self._keys), strict=True):
            copy = frame.copy()
            if node is not _MISSING:
                if type(copy) is list:
                    copy.append(node)
                elif key is not None:
                    copy[key] = node
            node = copy
        return node


def scan(text: str, start: int, *, allow_nan: bool = False) -> Scan:
    """Scan the object or array opening at `text[start]`."""
    scanner = Scanner(allow_nan=allow_nan)
    i = scanner._run(text, start)
    if scanner.status == "complete":
        return Scan("complete", start, scanner.end)
    if scanner.status == "invalid":
        return Scan("invalid", start, i, scanner.reason)
    return Scan("truncated", start, len(text), "the JSON value is cut off", scanner.completion(text, start))


_BRACKET_OR_QUOTE = re.compile(r'["{}\[\]]')
_STRING_REST = re.compile(r'[^"\\]*+(?:\\.[^"\\]*+)*+', re.S)
_OPENERS = re.compile(r"[{\[]+")


class BracketMatcher:
    """Where the bracket at `start` is closed by its own kind of bracket (double-quoted strings skipped).

    A closer of the other kind closes nothing, so `[1, 2}` is never closed. Resumable: call `advance` again
    with the same text grown, and it goes on from where it stopped.

    >>> BracketMatcher(4).advance('See {a: [1, "}"]} then', 22)
    16
    """

    def __init__(self, start: int) -> None:
        self._i = start
        self._stack: list[str] = []
        self._in_string = False
        self.deepest = 0  # the deepest nesting seen

    def advance(self, text: str, hi: int) -> int | None:
        """Index of the closing bracket within `text[:hi]`, or None if it is not closed there."""
        i, stack = self._i, self._stack
        while True:
            if self._in_string:
                j = _STRING_REST.match(text, i, hi).end()  # type: ignore[union-attr]
                if j >= hi or text[j] != '"':  # the string (or its last escape) goes on past hi
                    self._i = j
                    return None
                i = j + 1
                self._in_string = False
            m = _BRACKET_OR_QUOTE.search(text, i, hi)
            if m is None:
                self._i = hi
                return None
            j = m.start()
            c = text[j]
            i = j + 1
            if c == '"':
                self._in_string = True
            elif c == "{" or c == "[":
                i = _OPENERS.match(text, j, hi).end()  # type: ignore[union-attr]
                stack.extend(text[j:i])  # a run of opening brackets at once
                if len(stack) > self.deepest:
                    self.deepest = len(stack)
            else:
                while True:  # a run of closing brackets
                    if stack and _CLOSE[stack[-1]] == c:
                        stack.pop()
                        if not stack:
                            self._i = i
                            return i - 1
                    if i >= hi or text[i] not in "}]":
                        break
                    c = text[i]
                    i += 1

"""Where a bracket is closed: strictly (JSON strings skipped, `BracketMatcher`) or leniently (`lenient_end`:
both quote styles and comments skipped, as the repair reads them).

>>> lenient_end("{'a': '}', /* ] */ 'b': [1]} tail", 0)
28
"""

from __future__ import annotations

import re

from parsers.tokens import CLOSE

__all__ = ["BracketMatcher", "lenient_end"]

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
                    if stack and CLOSE[stack[-1]] == c:
                        stack.pop()
                        if not stack:
                            self._i = i
                            return i - 1
                    if i >= hi or text[i] not in "}]":
                        break
                    c = text[i]
                    i += 1


_LENIENT = re.compile(r"""["'{}\[\]#/]""")
_DQ_REST = re.compile(r'[^"\\]*+(?:\\.[^"\\]*+)*+"', re.S)
_SQ_REST = re.compile(r"[^'\\]*+(?:\\.[^'\\]*+)*+'", re.S)


def lenient_end(text: str, start: int, hi: int | None = None) -> int | None:
    """Index after the structure opening at `start` (brackets counted, both quote styles and comments
    skipped), or None if `text[:hi]` ends first (inside it)."""
    hi = len(text) if hi is None else hi
    depth, i = 0, start
    while (m := _LENIENT.search(text, i, hi)) is not None:
        j, c = m.start(), m.group()
        if c == '"' or c == "'":
            rest = (_DQ_REST if c == '"' else _SQ_REST).match(text, j + 1, hi)
            if rest is None:
                return None
            i = rest.end()
            continue
        if c == "#" or text.startswith("//", j):
            nl = text.find("\n", j, hi)
            if nl < 0:
                return None
            i = nl + 1
            continue
        if text.startswith("/*", j):
            close = text.find("*/", j + 2, hi)
            if close < 0:
                return None
            i = close + 2
            continue
        i = j + 1
        if c in "{[":
            i = _OPENERS.match(text, j, hi).end()  # type: ignore[union-attr]
            depth += i - j  # a run of opening brackets at once
        elif c in "}]":
            depth -= 1
            if depth == 0:
                return i
    return None

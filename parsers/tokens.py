"""The tokens of strict JSON text: where a string, number or literal ends, and what it holds.

Each `..._end` function returns the index after its token, raises `EndOfText` when the text stops inside a
valid prefix of one (saying where to cut), or ValueError naming the offending character.

>>> string_end('"서울" rest', 1), scalar_end("-12.5]", 0, allow_nan=False)
(4, 5)
>>> scalar_value("1e2", allow_nan=False), decode_string("caf\\u00e9")
(100.0, 'café')
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

__all__ = ["CLOSE", "EndOfText", "decode_string", "scalar_end", "scalar_value", "string_end"]

CLOSE = {"{": "}", "[": "]"}
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


class EndOfText(Exception):
    """The text ended inside a string, number or literal; carries how to close it."""

    def __init__(self, cut: int | None) -> None:
        self.cut = cut  # index to cut at before closing; None: cut back to the last safe point


def string_end(text: str, i: int) -> int:
    """Index after the closing quote of the string whose content starts at `i`."""
    n = len(text)
    j = _STRING_BODY.match(text, i).end()  # type: ignore[union-attr]
    if j >= n:
        raise EndOfText(n)
    c = text[j]
    if c == '"':
        return j + 1
    if c != "\\":
        raise ValueError(f"lone surrogate U+{ord(c):04X} at char {j}")
    if j + 1 >= n:
        raise EndOfText(j)  # a lone trailing backslash
    if text[j + 1] != "u":
        raise ValueError(f"bad escape {text[j : j + 2]!r} at char {j}")
    digits = text[j + 2 : j + 6]
    if not _HEX4.fullmatch(digits):
        if j + 6 > n and _HEX_PREFIX.fullmatch(digits):
            raise EndOfText(j)  # a half-written \u escape
        raise ValueError(f"bad escape {text[j : j + 2]!r} at char {j}")
    if digits[0] in "dD" and digits[1] in "89abAB":  # a high surrogate the pattern did not take with a low one
        rest = text[j + 6 : j + 12]
        if j + 12 > n and _LOW_PREFIX.fullmatch(rest):
            raise EndOfText(j)  # its low half may still come
    raise ValueError(f"lone surrogate \\u{digits} at char {j}")


def scalar_end(text: str, i: int, allow_nan: bool) -> int:
    """Index after the number or literal at `i`."""
    n = len(text)
    if text[i] in "-0123456789" and not text.startswith("-I", i):
        run = _NUMBER_CHARS.match(text, i).end()  # type: ignore[union-attr]
        m = _NUMBER.match(text, i)
        if run >= n:
            raise EndOfText(n if m and m.end() == n else None)
        if not m:
            raise ValueError(f"bad number at char {i}")
        return m.end()
    for word in _WITH_NAN if allow_nan else _LITERALS:
        if text.startswith(word, i):
            return i + len(word)
        if n - i < len(word) and word.startswith(text[i:]):
            raise EndOfText(None)
    refused = next((w for w in _NON_FINITE if text.startswith(w, i)), None)
    if refused is not None:
        raise ValueError(f"expected a value at char {i} ({refused} is not JSON; pass allow_nan=True to accept it)")
    raise ValueError(f"expected a value at char {i}")


def decode_string(raw: str) -> str:
    """The text of validated string content (no quotes)."""
    return json.loads(f'"{raw}"', strict=False) if "\\" in raw else raw


def scalar_value(token: str, allow_nan: bool) -> Any:
    """The value of a validated number or literal token; ValueError if it is not finite (and not allowed)."""
    if token in _WITH_NAN:
        return _WITH_NAN[token]
    if "." in token or "e" in token or "E" in token:
        value = float(token)
        if not allow_nan and not math.isfinite(value):
            raise ValueError(f"number {token[:40]} is out of range (pass allow_nan=True to accept it)")
        return value
    return int(token)  # ValueError past Python's 4300-digit limit

"""Strict JSON loading: `json.loads` that refuses NaN/Infinity, lone surrogates and nesting past `MAX_DEPTH`.

>>> loads('{"city": "서울", "n": 1e2}')
{'city': '서울', 'n': 100.0}
>>> loads('[NaN]')
Traceback (most recent call last):
  ...
parsers.strict_json.RefusedValueError: NaN is not valid JSON (pass allow_nan=True to accept it)
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from parsers.scan import MAX_DEPTH

__all__ = ["DECODERS", "RefusedValueError", "check_value", "loads"]

_SURROGATE = re.compile("[\ud800-\udfff]")
# Cheap signs that a loaded value may hold a lone surrogate or a number that overflowed to infinity.
_RISKY = re.compile(r"\\u[dD][89a-fA-F]|[\ud800-\udfff]|[0-9][eE][-+]?[0-9]{3}|[0-9]{300}")


class RefusedValueError(ValueError):
    """Well-formed JSON text whose value is refused: a non-finite number, a lone surrogate, nesting too deep."""


def _no_constants(name: str) -> Any:
    raise RefusedValueError(f"{name} is not valid JSON (pass allow_nan=True to accept it)")


_NOT_FINITE = "a number is not finite (NaN, Infinity or out of range); pass allow_nan=True to accept it"


def _fix(text: str) -> str:
    return _SURROGATE.sub("\ufffd", text)


# The C decoders, keyed by allow_nan: raw control characters pass inside strings (models write them).
DECODERS = {
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
        value = DECODERS[allow_nan].decode(text)
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

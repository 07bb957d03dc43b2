"""Reading files users name (questions, seed tasks, answers): bounded, so `/dev/zero` or a runaway log cannot
exhaust memory; the cap is one environment variable, named in the error.

>>> parse_size("64M"), parse_size("1024")
(67108864, 1024)
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from core.errors import RecipesError

__all__ = [
    "DEFAULT_MAX_INPUT_BYTES",
    "MAX_INPUT_BYTES_ENV",
    "InputTooLargeError",
    "max_input_bytes",
    "parse_size",
    "read_bytes_bounded",
    "read_text_bounded",
    "read_user_text",
]

MAX_INPUT_BYTES_ENV = "RECIPES_MAX_INPUT_BYTES"
DEFAULT_MAX_INPUT_BYTES = 64 * 2**20
_SIZE = re.compile(r"\s*(\d+)\s*([kmg]i?b?|b)?\s*", re.IGNORECASE)


class InputTooLargeError(RecipesError, ValueError):
    """An input file larger than the cap (``RECIPES_MAX_INPUT_BYTES``); the message says how to raise it."""


def parse_size(text: str) -> int:
    """Bytes from ``"1048576"``, ``"512K"``, ``"64M"`` or ``"2G"`` (binary units); ValueError otherwise."""
    match = _SIZE.fullmatch(text)
    if not match:
        raise ValueError(f"not a size: {text!r} (use bytes, or a number with K, M or G)")
    unit = (match.group(2) or "b")[0].lower()
    return int(match.group(1)) * {"b": 1, "k": 2**10, "m": 2**20, "g": 2**30}[unit]


def max_input_bytes() -> int:
    """The cap on one input file: ``RECIPES_MAX_INPUT_BYTES`` if set, else 64 MiB."""
    raw = os.environ.get(MAX_INPUT_BYTES_ENV)
    if not raw:
        return DEFAULT_MAX_INPUT_BYTES
    try:
        value = parse_size(raw)
    except ValueError as err:
        raise ValueError(f"{MAX_INPUT_BYTES_ENV}: {err}") from None
    if value < 1:
        raise ValueError(f"{MAX_INPUT_BYTES_ENV} must be at least 1 byte, got {raw!r}")
    return value


def _shown(n: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"


def read_bytes_bounded(path: str | Path, limit: int | None = None) -> bytes:
    """The file's bytes, refusing more than `limit` (default `max_input_bytes()`) without reading past it.

    Raises `InputTooLargeError`, or the OSError of opening/reading (callers turn it into their typed error).
    """
    cap = max_input_bytes() if limit is None else limit
    with open(path, "rb") as fh:
        data = fh.read(cap + 1)
    if len(data) > cap:
        raise InputTooLargeError(
            f"{path} is larger than the {_shown(cap)} cap on input files; "
            f"set {MAX_INPUT_BYTES_ENV} (e.g. {MAX_INPUT_BYTES_ENV}=1G) to raise it"
        )
    return data


def read_text_bounded(path: str | Path, limit: int | None = None, encoding: str = "utf-8-sig") -> str:
    """`read_bytes_bounded` decoded (UnicodeDecodeError propagates, for the caller's message)."""
    return read_bytes_bounded(path, limit).decode(encoding)


def read_user_text(path: Path, error: type[Exception], what: str) -> str:
    """`read_text_bounded(path)` with a missing or unreadable file raised as `error`, one line naming `what`."""
    try:
        return read_text_bounded(path)  # capped: RECIPES_MAX_INPUT_BYTES
    except FileNotFoundError:
        raise error(f"{what} not found: {path}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise error(f"cannot read {path} as UTF-8 text: {err}") from None

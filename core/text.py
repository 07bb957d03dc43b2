"""Text helpers shared by every layer: Hangul as one definition, and one-line messages.

>>> is_hangul("한"), is_hangul("a"), one_line("a\\n  b", limit=10)
(True, False, 'a b')
"""

from __future__ import annotations

__all__ = ["HANGUL_RANGES", "is_hangul", "one_line"]

# Hangul syllables, jamo and compatibility jamo, as the body of a regex character class ("[" + HANGUL_RANGES + "]").
HANGUL_RANGES = "\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f"
_SPANS = ((0xAC00, 0xD7A3), (0x1100, 0x11FF), (0x3130, 0x318F))


def is_hangul(ch: str) -> bool:
    """Whether the one character `ch` is a Hangul syllable or jamo."""
    code = ord(ch)
    return any(lo <= code <= hi for lo, hi in _SPANS)


def one_line(text: object, limit: int = 500) -> str:
    """`text` with every run of whitespace (line breaks included) made one space, cut to `limit` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: max(limit - 3, 0)] + "..."

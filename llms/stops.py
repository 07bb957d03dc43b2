"""Stop-string helpers shared by every backend (pure Python: importing this never loads torch)."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["cut_at_stop", "held_back"]


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """Cut `text` at the earliest stop string; say whether one was found.

    >>> cut_at_stop("a\\nUser: b", ["\\nUser:"])
    ('a', True)
    """
    cuts = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)


def held_back(text: str, stops: Sequence[str]) -> int:
    """Length of the longest suffix of `text` that could still grow into a stop string (not yet safe to emit)."""
    best = 0
    for s in stops:
        for k in range(min(len(s) - 1, len(text)), 0, -1):
            if text.endswith(s[:k]):
                best = max(best, k)
                break
    return best

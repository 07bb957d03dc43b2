"""Stop-string helpers shared by every backend (pure Python: importing this never loads torch).

Engines stop *generating* on their own (transformers' `StopStringCriteria`, the onnxruntime step loop); these
trim the text at the stop and decide which streamed text is safe to show.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["StopStream", "cut_at_stop", "held_back"]


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


class StopStream:
    """The new text safe to stream from a growing decoded text: never past a stop string, never a tail that could
    still become one, never half a character (a UTF-8 sequence split across tokens decodes to U+FFFD).

    >>> s = StopStream(["\\nUser:"])
    >>> s.feed("Hi\\nUs"), s.feed("Hi\\nUser: more"), s.stopped
    ('Hi', '', True)
    """

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = tuple(stops)
        self.sent = 0  # characters already handed out
        self.stopped = False

    def feed(self, text: str, *, final: bool = False) -> str:
        """The part of `text` (all text so far) not yet handed out and safe now; `final`: nothing more will come."""
        cut, self.stopped = cut_at_stop(text, self.stops)
        if self.stopped or final:
            safe = len(cut)
        else:
            safe = len(text) - held_back(text, self.stops)
            while safe > self.sent and text[safe - 1] == "\ufffd":
                safe -= 1
        if safe <= self.sent:
            return ""
        piece, self.sent = cut[self.sent : safe], safe
        return piece

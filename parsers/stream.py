"""Partial JSON values of a reply that arrives in pieces, in linear time overall.

`partial_json` re-reads the whole text; `PartialStream` keeps its place instead: it looks for the first
JSON value (after a `<think>` block, outside the prompt's echo, not inside a prose or broken bracket) only in
the new text, then hands that value to a resumable `Scanner` that builds it as it goes. A partial is the
value so far, closed the way `partial_json` closes it; consecutive partials share their finished members
(copy one before changing it). When the open lists/objects hold more than `_EAGER` members, a new partial is
made at most once per 1/64th of their size in new text, so the copying stays linear too; `flush` gives the
latest one. The final value of a stream is always the strict parse of the whole reply, not these.

>>> stream = PartialStream()
>>> [stream.feed(piece) for piece in ["Sure: ", '{"movies": ["Ali', 'en", "Heat"]}']]
[None, {'movies': ['Ali']}, {'movies': ['Alien', 'Heat']}]
"""

from __future__ import annotations

import re
from typing import Any

from parsers.brackets import BracketMatcher
from parsers.extract import candidate_pattern, echo_prefix, echo_spans, span_end
from parsers.scan import Scanner

__all__ = ["PartialList", "PartialStream"]

_EAGER = 1024
_OPENER = re.compile(r"[{\[]")
_OPEN_THINK = re.compile(r"\s*<think>", re.I)
_CLOSE_THINK = re.compile(r"</think>", re.I)


class PartialList(list):  # type: ignore[type-arg]
    """A partial top-level list: a plain list, except that adding two partials together is refused.

    LangChain's stream bookkeeping adds up the chunks a Runnable yields (`acc + chunk`); for snapshots of a
    growing list that would concatenate every snapshot (quadratic). Refused, it keeps the latest instead.
    """

    __slots__ = ()

    def __add__(self, other: Any) -> Any:
        if isinstance(other, PartialList):
            return NotImplemented
        return list.__add__(self, other)


def _snapshot(value: Any) -> Any:
    return PartialList(value) if type(value) is list else value


class PartialStream:
    """Feed the reply's pieces in order; each `feed` returns the partial dict/list so far (None: none yet)."""

    def __init__(self, prompt: str | None = None, *, allow_nan: bool = False) -> None:
        self.prompt = prompt
        self.allow_nan = allow_nan
        self.scanned = 0  # characters examined: each about once
        self.copied = 0  # members copied into partials: at most about 64 per character (see _EAGER)
        self._candidate = candidate_pattern()
        self._pieces: list[str] = []  # the reply so far
        self._phase = "preamble"  # then "search", "value" (a Scanner reads it), "done"
        self._think_from = 0
        self._echo_done = not prompt
        self._base = 0  # where the answer starts (after a BOM and a <think> block)
        self._pos = 0  # the search goes on from here
        self._matcher: BracketMatcher | None = None  # a bracket being skipped: the search waits for its end
        self._scanner: Scanner | None = None
        self._start = 0  # where the scanner's value starts
        self._value: Any = None
        self._version = -1
        self._since = 0  # characters since the last partial was made

    def feed(self, piece: str) -> Any:
        if not piece or self._phase == "done":
            return self._value
        self._pieces.append(piece)
        if self._phase == "value":
            scanner = self._scanner
            assert scanner is not None
            before = scanner.scanned
            scanner.feed(piece)
            self.scanned += scanner.scanned - before
            self._since += len(piece)
            if scanner.status == "truncated":
                return self._partial(scanner, eager=False)
            if scanner.status == "complete":
                return self._finish(scanner)
            self._phase = "search"  # malformed: skip it whole, then search on after it
            self._matcher = BracketMatcher(self._start)
            self._pos = self._start
        return self._search()

    def flush(self) -> Any:
        """The latest partial, made even if the rate limit skipped it."""
        if self._phase == "value" and self._scanner is not None:
            return self._partial(self._scanner, eager=True)
        return self._value

    def _partial(self, scanner: Scanner, *, eager: bool) -> Any:
        if scanner.version != self._version:
            size = scanner.size()
            if eager or size <= _EAGER or self._since * 64 >= size:
                self._value = _snapshot(scanner.value())
                self._version = scanner.version
                self._since = 0
                self.copied += size
        return self._value

    def _finish(self, scanner: Scanner) -> Any:
        self._phase = "done"
        self._value = _snapshot(scanner.value())
        self._pieces = []
        return self._value

    def _search(self) -> Any:
        if len(self._pieces) > 1:
            self._pieces = ["".join(self._pieces)]
        text = self._pieces[0]
        if self._phase == "preamble":
            bom = 1 if text.startswith("\ufeff") else 0
            think = _OPEN_THINK.match(text, bom)
            if think is not None:
                think_end = _CLOSE_THINK.search(text, max(self._think_from, think.end()))
                if think_end is None:
                    self._think_from = max(think.end(), len(text) - 8)
                    return None
                self._base = think_end.end()
            elif "<think>".startswith(text[bom:].lstrip().lower()):
                return None  # nothing yet, or a <think> tag being written
            else:
                self._base = bom
            self._phase = "search"
            self._pos = self._base
        answer = text[self._base :]
        if not self._echo_done:
            if echo_prefix(answer, self.prompt):
                return None
            self._echo_done = True
        spans = [(s + self._base, e + self._base) for s, e in echo_spans(answer, self.prompt)]
        n = len(text)
        pos = self._pos
        if self._matcher is not None:
            close = self._matcher.advance(text, n)
            self.scanned += n - pos
            if close is None:
                self._pos = n
                return self._value
            self._matcher = None
            pos = close + 1
        while (m := _OPENER.search(text, pos)) is not None:
            start = m.start()
            if (end := span_end(spans, start)) is not None:
                pos = end
                continue
            if self._candidate.match(text, start):
                scanner = Scanner(allow_nan=self.allow_nan, build=True)
                scanner.feed(text[start:])
                self.scanned += scanner.scanned
                if scanner.status == "truncated":
                    self._phase, self._scanner, self._start = "value", scanner, start
                    # The pieces are still kept (appended, not joined) in case the value turns out malformed.
                    self._since = n - start
                    return self._partial(scanner, eager=True)
                if scanner.status == "complete":
                    return self._finish(scanner)
            matcher = BracketMatcher(start)
            close = matcher.advance(text, n)
            self.scanned += (n if close is None else close) - start
            if close is None:
                self._matcher, self._pos = matcher, n
                return self._value
            pos = close + 1
        self.scanned += n - pos
        self._pos = n
        return self._value

"""The value a strict scan has read so far, built as it goes, so a stream's partial value costs no re-parse.

`value()` is the value so far closed the way `scan(...).completion` closes it; consecutive values share their
finished members. `version` is bumped whenever `value()` would change.

>>> b = ValueBuilder(allow_nan=False)
>>> b.open("{"); b.end_string("a", key=True); b.open("[")
>>> b.attach(1); b.cut_number("2")
>>> b.value(open_string=False)
{'a': [1, 2]}
"""

from __future__ import annotations

from typing import Any

from parsers.tokens import decode_string, scalar_value

__all__ = ["ValueBuilder"]

_MISSING: Any = object()


class ValueBuilder:
    """The open containers with their finished members, the key being read, and a cut-off string or number."""

    def __init__(self, *, allow_nan: bool) -> None:
        self.allow_nan = allow_nan
        self.version = 0
        self.root: Any = None  # the complete value
        self._frames: list[Any] = []  # the open containers, holding their finished members
        self._keys: list[Any] = []  # per open object, the key whose value is being read
        self._parts: list[str] = []  # decoded pieces of the string being read
        self._chars = 0  # their length
        self._number = ""  # a number cut at the end of the text that is complete so far

    def open(self, bracket: str) -> None:
        self._frames.append({} if bracket == "{" else [])
        self._keys.append(None)
        self.version += 1

    def close(self) -> None:
        done = self._frames.pop()
        self._keys.pop()
        if self._frames:
            self.attach(done)
        else:
            self.root = done
            self.version += 1

    def attach(self, value: Any) -> None:
        """Add a finished member to the innermost open container."""
        frame = self._frames[-1]
        if type(frame) is list:
            frame.append(value)
        else:
            frame[self._keys[-1]] = value
            self._keys[-1] = None
        self.version += 1

    def cut_string(self, raw: str, *, key: bool) -> None:
        """The text ended inside a string: keep its valid content so far (`raw`, undecoded)."""
        if raw:
            self._parts.append(decode_string(raw))
            self._chars += len(raw)
        if not key:  # value() changes even for an opened, still empty string value: the key now shows with ""
            self.version += 1

    def end_string(self, raw: str, *, key: bool) -> None:
        """A string closed; `raw` is its content since the last cut."""
        tail = decode_string(raw)
        value = "".join(self._parts) + tail if self._parts else tail
        self._parts, self._chars = [], 0
        if key:
            self._keys[-1] = value
        else:
            self.attach(value)

    def cut_number(self, token: str) -> None:
        """The text ended inside a number that is complete so far (shown until the next piece)."""
        self._number = token
        self.version += 1

    def drop_number(self) -> None:
        """A new piece came: a cut-off number is read again, whole."""
        if self._number:
            self._number = ""
            self.version += 1

    def size(self) -> int:
        """About how much copying `value()` does: members of the open containers plus the open string / 8."""
        return sum(len(f) for f in self._frames) + self._chars // 8

    def value(self, *, open_string: bool) -> Any:
        """The value so far, closed (None before the first bracket); `open_string`: a string value is cut off."""
        if not self._frames:
            return self.root
        node: Any = _MISSING
        if open_string:
            if len(self._parts) > 1:
                self._parts[:] = ["".join(self._parts)]
            node = self._parts[0] if self._parts else ""
        elif self._number:
            try:
                node = scalar_value(self._number, self.allow_nan)
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

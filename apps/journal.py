"""The one JSONL journal every batch app writes: a line per finished item, on disk before the next one finishes.

The file is created (or truncated) only when the first line is written, so a run that fails first leaves no
empty file and an older one intact; `resume=True` appends after dropping a line a crash cut short, and
`Journal.done` names the indices finished earlier. Each line is flushed as written (a killed or interrupted run
keeps every line it reported; no fsync: a power cut may lose the last lines, which `--resume` redoes).

>>> import io
>>> out = io.StringIO()
>>> with Journal(out, progress=False) as journal:
...     journal.write({"index": 0, "output": "서울"}), journal.write({"index": 0, "output": "again"})
(True, False)
>>> out.getvalue()
'{"index": 0, "output": "서울"}\\n'
"""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from core.errors import RecipesError

__all__ = ["Journal", "OutputFileError", "check_output_path", "drop_torn_line", "read_results"]


class OutputFileError(RecipesError, OSError):
    """The results file cannot be opened for writing (the message names it)."""


def _check_regular(path: Path) -> None:
    """Results are read back and appended to: only a regular file can be (a FIFO or /dev/zero cannot)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return
    except OSError as err:
        raise OutputFileError(f"cannot use {path} for results: {err.strerror}") from None
    if not stat.S_ISREG(mode):
        raise OutputFileError(f"cannot use {path} for results: not a regular file")


def read_results(path: str | Path) -> dict[int, dict[str, Any]]:
    """The records of a results file by input index (a torn last line, from a crash, is skipped)."""
    records: dict[int, dict[str, Any]] = {}
    _check_regular(Path(path))
    try:
        with open(path, encoding="utf-8") as fh:  # line by line: a results file may be larger than its inputs
            for line in fh:
                try:
                    record = json.loads(line)
                except (json.JSONDecodeError, RecursionError):
                    continue
                if isinstance(record, dict) and isinstance(record.get("index"), int):
                    records[record["index"]] = record
    except UnicodeDecodeError:
        raise OutputFileError(f"{path} is not a results file (not UTF-8 JSON lines)") from None
    return records


def check_output_path(path: Path) -> None:
    """Fail before the run (not after its first result) when `path` cannot be written; creates nothing.
    (Devices are fine to write to: ``--output /dev/stdout``; only resuming needs a regular file.)"""
    if path.is_dir():
        raise OutputFileError(f"cannot write results to {path}: it is a directory")
    parent = path.parent
    if not parent.is_dir():
        raise OutputFileError(f"cannot write results to {path}: {parent} is not a directory")
    if not os.access(path if path.exists() else parent, os.W_OK):
        raise OutputFileError(f"cannot write results to {path}: permission denied")


def drop_torn_line(path: str | Path) -> bool:
    """Make a results file end at a line break before appending to it: a last line without one (a crash cut it
    mid-write) is removed, or, if it is a whole JSON record, given its line break. True if the file changed."""
    with open(path, "r+b") as fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return False
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return False
        start = size
        while start > 0:  # back to the last line break, a block at a time
            step = min(1 << 16, start)
            fh.seek(start - step)
            found = fh.read(step).rfind(b"\n")
            if found >= 0:
                start = start - step + found + 1
                break
            start -= step
        fh.seek(start)
        try:
            whole = isinstance(json.loads(fh.read()), dict)
        except (ValueError, RecursionError):  # not JSON, or not UTF-8
            whole = False
        if whole:
            fh.seek(0, os.SEEK_END)
            fh.write(b"\n")
        else:
            fh.truncate(start)
    return True


def _finished(record: dict[str, Any]) -> bool:
    return "error" not in record


class Journal:
    """Append-only JSONL results with a progress bar; thread-safe; a context manager that closes both.

    out: a path (created at the first line), an open text stream, or None (lines kept nowhere, still de-duplicated).
    resume: keep the file, skip `done`.
    finished: which earlier records count as done on resume (default: those without an "error").
    Lines whose "index" was already written (this run, or done earlier) are dropped: a retried batch
    (a worker that died after reporting) never duplicates a line.
    """

    def __init__(
        self,
        out: str | Path | TextIO | None,
        *,
        resume: bool = False,
        label: str = "running",
        total: int = 0,
        completed: int = 0,
        progress: bool = True,
        transient: bool = False,
        finished: Callable[[dict[str, Any]], bool] = _finished,
    ) -> None:
        self.path = Path(out) if isinstance(out, str | Path) else None
        self._stream: TextIO | None = None if isinstance(out, str | Path) else out
        self._keep = out is not None
        self.resume = resume
        self.done: set[int] = set()
        self.written = 0
        self._seen: set[int] = set()
        self._lock = threading.Lock()
        if self.path is not None:
            check_output_path(self.path)
            if resume and self.path.exists():
                self.done = {i for i, r in read_results(self.path).items() if finished(r)}
        self._seen |= self.done
        self.bar: Any = None
        if progress:
            from apps.common import progress_bar

            self.bar = progress_bar(label, total, completed=completed, transient=transient)

    def __enter__(self) -> Journal:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def _open(self) -> TextIO:
        assert self.path is not None
        try:
            if self.resume and self.path.exists():
                drop_torn_line(self.path)  # a line cut by a kill would swallow the next record
            return open(self.path, "a" if self.resume else "w", encoding="utf-8")
        except OSError as err:
            raise OutputFileError(f"cannot write results to {self.path}: {err.strerror}") from None

    def write(self, record: dict[str, Any], description: str | None = None) -> bool:
        """Append `record` as one flushed line (False, nothing written, if its index was written already)."""
        line = json.dumps(record, ensure_ascii=False, default=str) + "\n"  # whole before any byte is written
        index = record.get("index")
        with self._lock:
            if isinstance(index, int):
                if index in self._seen:
                    return False
                self._seen.add(index)
            if self._keep:
                if self._stream is None:
                    self._stream = self._open()
                self._stream.write(line)
                self._stream.flush()
            self.written += 1
            self.show(advance=1, description=description)
        return True

    def show(self, *, advance: int = 0, completed: int | None = None, description: str | None = None) -> None:
        """Move the progress bar (a no-op without one)."""
        if self.bar is None:
            return
        extra: dict[str, Any] = {"description": description} if description else {}
        if completed is not None:
            extra["completed"] = completed
        self.bar.update(self.bar.task_ids[0], advance=advance, **extra)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
        if self.path is not None and self._stream is not None:
            self._stream.close()
            self._stream = None

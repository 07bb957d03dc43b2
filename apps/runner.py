"""Run a Runnable over many inputs, writing each result as a JSONL line the moment it finishes.

Nothing finished is lost: a failing item is recorded and the run goes on; Ctrl-C (or `stop_on_error`) stops it
with every finished line already flushed, and the `RunSummary` says what happened. On Ctrl-C the calls in flight
are stopped too (a model call in a worker thread at interpreter exit aborted the process: SIGABRT, not 130), and
the results file is created only when the first result is written, so a run that fails first leaves no empty file.

>>> import io
>>> from langchain_core.runnables import RunnableLambda
>>> out = io.StringIO()
>>> run_many(RunnableLambda(str.upper), ["a", "서울"], out, progress=False).line()
'2 inputs: 2 ok, 0 failed'
"""

from __future__ import annotations

import contextvars
import ctypes
import json
import os
import queue
import stat
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any, TextIO

from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import BaseModel

from apps.common import progress_bar
from chains.files import read_text_bounded
from llms.errors import RecipesError

__all__ = [
    "InputFileError",
    "OutputFileError",
    "RunSummary",
    "check_output_path",
    "drop_torn_line",
    "read_inputs",
    "read_results",
    "run_many",
]

MAX_ERRORS_KEPT = 20
CANCEL_GRACE_S = 10.0  # how long Ctrl-C waits for the calls in flight to stop (a model step, an HTTP read)


class InputFileError(RecipesError, ValueError):
    """An input file that cannot be read: missing, not UTF-8, or a bad JSONL line (the message names it)."""


class OutputFileError(RecipesError, OSError):
    """The results file cannot be opened for writing (the message names it)."""


def read_inputs(path: str | Path) -> list[Any]:
    """Inputs from a file: ``.jsonl`` gives one JSON value per line; anything else one text per line.

    Blank lines are skipped; a UTF-8 byte-order mark is ignored.
    """
    path = Path(path)
    try:
        text = read_text_bounded(path)
    except FileNotFoundError:
        raise InputFileError(f"input file not found: {path}") from None
    except UnicodeDecodeError as err:
        raise InputFileError(f"{path} is not UTF-8 text (byte {err.start}); save it as UTF-8") from None
    except OSError as err:
        raise InputFileError(f"cannot read {path}: {err.strerror}") from None
    lines = [(n, line.rstrip("\r")) for n, line in enumerate(text.split("\n"), start=1) if line.strip()]
    if path.suffix.lower() != ".jsonl":
        return [line for _, line in lines]
    values = []
    for n, line in lines:
        try:
            values.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise InputFileError(f"{path}:{n}: not valid JSON ({err.msg}); one JSON value per line") from None
        except RecursionError:
            raise InputFileError(f"{path}:{n}: JSON nested too deeply") from None
    return values


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


@dataclass
class RunSummary:
    """Counts for the CLI: ``line()`` is the one-line report, ``exit_code`` 0 only if every input succeeded."""

    total: int = 0
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    interrupted: bool = False
    stopped_on_error: bool = False
    seconds: float = 0.0
    output: str = ""
    errors: list[tuple[int, str]] = field(default_factory=list)

    @property
    def not_run(self) -> int:
        return self.total - self.ok - self.failed - self.skipped

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130  # the shell's convention for Ctrl-C
        return 0 if self.failed == 0 and self.not_run == 0 else 1

    def line(self) -> str:
        head = "interrupted: " if self.interrupted else "stopped at the first error: " if self.stopped_on_error else ""
        parts = [f"{self.ok} ok", f"{self.failed} failed"]
        if self.skipped:
            parts.append(f"{self.skipped} already done")
        if self.not_run:
            parts.append(f"{self.not_run} not run")
        where = f" -> {self.output}" if self.output else ""
        return f"{head}{self.total} inputs: {', '.join(parts)}{where}"


def _jsonable(value: Any) -> Any:
    """Model outputs as JSON: messages as their text, pydantic models and dataclasses as dicts."""
    if isinstance(value, BaseMessage):
        return value.content
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return value


def _error_text(err: BaseException) -> str:
    first = (str(err).strip().splitlines() or [""])[0]
    return f"{type(err).__name__}: {first}"[:500]


class _Cancelled(BaseException):
    """Raised inside a worker's model call after Ctrl-C, so the call stops at its next Python step (a BaseException:
    `except Exception` in libraries does not swallow it)."""


class _Worker(threading.Thread):
    """Runs items from `tasks`; `busy` (under `lock`) says it is inside a model call and may be cancelled."""

    def __init__(
        self,
        runnable: Runnable[Any, Any],
        config: RunnableConfig | None,
        tasks: queue.Queue[Any],
        results: queue.Queue[Any],
    ) -> None:
        super().__init__(daemon=True)
        self.runnable, self.config, self.tasks, self.results = runnable, config, tasks, results
        self.lock = threading.Lock()
        self.busy = False
        # The caller's context (LangChain callback hooks: the run history, --record) goes with the work.
        self.context = contextvars.copy_context()

    def run(self) -> None:
        try:
            while (task := self.tasks.get()) is not None:
                index, value = task
                with self.lock:
                    self.busy = True
                try:
                    outcome = (True, self.context.run(self.runnable.invoke, value, self.config))
                except _Cancelled:
                    raise
                except BaseException as err:  # report everything: a dying daemon thread would hang the run
                    outcome = (False, err)
                finally:
                    with self.lock:
                        self.busy = False
                self.results.put((index, value, *outcome))
        except _Cancelled:
            return  # stopped after Ctrl-C: what it had not reported counts as not run

    def cancel(self) -> None:
        """Raise `_Cancelled` in this thread if it is inside a model call (it leaves at its next Python step)."""
        with self.lock:
            if self.busy and self.ident is not None:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self.ident), ctypes.py_object(_Cancelled))


def _record(index: int, value: Any, ok: bool, outcome: Any) -> str:
    record: dict[str, Any] = {"index": index, "input": value}
    if ok:
        record["output"] = _jsonable(outcome)
    else:
        record["error"] = _error_text(outcome)
        record["error_type"] = type(outcome).__name__
    return json.dumps(record, ensure_ascii=False, default=str) + "\n"


def _stop_workers(
    workers: list[_Worker], tasks: queue.Queue[Any], results: queue.Queue[Any], emit: Callable[..., None]
) -> None:
    """After Ctrl-C: cancel the calls in flight and wait (at most `CANCEL_GRACE_S`) until no worker is inside one.

    A worker thread still inside torch when the interpreter exits is torn down mid-call, and the process died with
    SIGABRT ("terminate called without an active exception") instead of exiting 130. Results that finish anyway
    are written; a second Ctrl-C stops the wait.
    """
    deadline = time.monotonic() + CANCEL_GRACE_S
    try:
        while True:  # items handed out but not yet started: no worker may start them now
            try:
                tasks.get_nowait()
            except queue.Empty:
                break
        for w in workers:
            w.cancel()
        while time.monotonic() < deadline:
            try:
                index, value, ok, outcome = results.get(timeout=0.05)
            except queue.Empty:
                if not any(w.busy for w in workers):
                    break
                for w in workers:  # one that started its call just before being cancelled
                    w.cancel()
                continue
            if ok:
                emit(index, value, ok, outcome)
    except KeyboardInterrupt:
        pass


def run_many(
    runnable: Runnable[Any, Any],
    inputs: Iterable[Any],
    out: str | Path | TextIO,
    *,
    max_concurrency: int = 4,
    progress: bool = True,
    stop_on_error: bool = False,
    resume: bool = False,
    config: RunnableConfig | None = None,
) -> RunSummary:
    """Invoke `runnable` on each input (`max_concurrency` at a time) and write JSONL lines
    ``{"index", "input", "output"}`` or ``{"index", "input", "error", "error_type"}`` as each finishes.

    resume: with a file `out`, skip indices that already have an output and append to it (a last line cut by a
    crash is dropped first, so no record is glued onto it). A file `out` is created (or truncated) only when the
    first result is written: a run that fails or is interrupted before that leaves no empty file behind.
    Ctrl-C returns a summary with ``interrupted=True``: calls in flight are stopped (results that finish while
    they stop are still written); unfinished items are simply absent from the file.
    """
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
    items = list(enumerate(inputs))
    summary = RunSummary(total=len(items), output="" if not isinstance(out, str | Path) else str(out))
    done: set[int] = set()
    path = Path(out) if isinstance(out, str | Path) else None
    if path is not None:
        check_output_path(path)
        if resume and path.exists():
            done = {i for i, r in read_results(path).items() if "output" in r}
            summary.skipped = sum(1 for i, _ in items if i in done)
    todo = iter([(i, v) for i, v in items if i not in done])
    tasks: queue.Queue[Any] = queue.Queue()
    results: queue.Queue[Any] = queue.Queue()
    started = time.monotonic()
    with ExitStack() as stack:
        opened: list[TextIO] = [] if path is not None else [out]  # type: ignore[list-item]

        def emit(index: int, value: Any, ok: bool, outcome: Any) -> None:
            if not opened:
                assert path is not None
                try:
                    if resume and path.exists():
                        drop_torn_line(path)
                    opened.append(stack.enter_context(open(path, "a" if resume else "w", encoding="utf-8")))
                except OSError as err:
                    raise OutputFileError(f"cannot write results to {path}: {err.strerror}") from None
            opened[0].write(_record(index, value, ok, outcome))
            opened[0].flush()
            if ok:
                summary.ok += 1
            else:
                summary.failed += 1
                if len(summary.errors) < MAX_ERRORS_KEPT:
                    summary.errors.append((index, _error_text(outcome)))
            if bar is not None:
                bar.update(bar.task_ids[0], advance=1, description=f"{summary.ok} ok, {summary.failed} failed")

        bar = progress_bar("running", summary.total) if progress else None
        if bar is not None:
            stack.enter_context(bar)
            bar.update(bar.task_ids[0], advance=summary.skipped)
        workers = [
            _Worker(runnable, config, tasks, results) for _ in range(min(max_concurrency, max(1, summary.total)))
        ]
        for w in workers:
            w.start()
        in_flight, feeding = 0, True
        try:
            while True:
                while feeding and in_flight < max_concurrency:
                    task = next(todo, None)
                    if task is None:
                        feeding = False
                        break
                    tasks.put(task)
                    in_flight += 1
                if in_flight == 0:
                    break
                try:
                    index, value, ok, outcome = results.get(timeout=0.25)  # short: Ctrl-C stays responsive
                except queue.Empty:
                    continue
                in_flight -= 1
                emit(index, value, ok, outcome)
                if not ok and stop_on_error and feeding:
                    summary.stopped_on_error, feeding = True, False
        except KeyboardInterrupt:
            summary.interrupted = True
            _stop_workers(workers, tasks, results, emit)
        finally:
            for _ in workers:
                tasks.put(None)
    summary.seconds = time.monotonic() - started
    return summary

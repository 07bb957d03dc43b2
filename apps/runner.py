"""Run a Runnable over many inputs, writing each result as a JSONL line the moment it finishes.

Nothing finished is lost: a failing item is recorded and the run goes on; Ctrl-C (or `stop_on_error`) stops it
with every finished line already flushed, and the `RunSummary` says what happened. On Ctrl-C the calls in flight
are stopped too (a model call in a worker thread at interpreter exit aborted the process: SIGABRT, not 130), and
the results file is created only when the first result is written, so a run that fails first leaves no empty file.
The pool is LangChain's `Runnable.batch_as_completed`; the file is `apps.journal.Journal` (the one every batch app
writes); Ray runs write the same records (`apps.scale.run_on_ray`).

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
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any, TextIO

from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import BaseModel

from apps.journal import Journal, OutputFileError, check_output_path, drop_torn_line, read_results
from chains.files import read_text_bounded
from core.errors import RecipesError

__all__ = [
    "InputFileError",
    "OutputFileError",
    "RunSummary",
    "check_output_path",
    "drop_torn_line",
    "error_text",
    "read_inputs",
    "read_results",
    "record",
    "run_many",
]

MAX_ERRORS_KEPT = 20
CANCEL_GRACE_S = 10.0  # how long Ctrl-C waits for the calls in flight to stop (a model step, an HTTP read)


class InputFileError(RecipesError, ValueError):
    """An input file that cannot be read: missing, not UTF-8, or a bad JSONL line (the message names it)."""


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

    def count(self, index: int, outcome: Any) -> bool:
        """Count one finished input: an exception is a failure (its line kept, the first `MAX_ERRORS_KEPT`);
        returns whether it failed."""
        failed = isinstance(outcome, BaseException)
        if failed:
            self.failed += 1
            if len(self.errors) < MAX_ERRORS_KEPT:
                self.errors.append((index, error_text(outcome)))
        else:
            self.ok += 1
        return failed


def _jsonable(value: Any) -> Any:
    """Model outputs as JSON: messages as their text, pydantic models and dataclasses as dicts."""
    if isinstance(value, BaseMessage):
        return value.content
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return value


def error_text(err: BaseException) -> str:
    """An error as one short line: its class (a remote error's own) and the first line of its message."""
    first = (str(err).strip().splitlines() or [""])[0]
    return f"{getattr(err, 'type_name', type(err).__name__)}: {first}"[:500]


class _Cancelled(BaseException):
    """Raised inside a worker's model call after Ctrl-C, so the call stops at its next Python step (a BaseException:
    `except Exception` in libraries does not swallow it)."""


def _async_raise(ident: int, exc: type[BaseException] | None) -> None:
    """Raise `exc` in thread `ident` at its next Python step (None withdraws one not yet raised)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(exc) if exc else None)


def record(index: int, value: Any, outcome: Any) -> dict[str, Any]:
    """The JSONL record of one input: ``{"index", "input", "output"}``, or ``"error", "error_type"`` for a failure."""
    out: dict[str, Any] = {"index": index, "input": value}
    if isinstance(outcome, BaseException):
        out["error"] = error_text(outcome)
        out["error_type"] = getattr(outcome, "type_name", type(outcome).__name__)  # a remote error's own name
    else:
        out["output"] = _jsonable(outcome)
    return out


class _Calls(Runnable[tuple[int, Any], None]):
    """One input's call as `batch_as_completed` runs it: skipped once the run stops, its line written before it
    returns (so the next input on that thread starts after the line is on disk), cancellable while in the call.

    A plain Runnable, not a RunnableLambda: it adds no run of its own to callbacks (the history, --record).
    """

    def __init__(
        self, runnable: Runnable[Any, Any], config: RunnableConfig | None, journal: Journal, summary: RunSummary,
        stop_on_error: bool,
    ) -> None:
        self.runnable, self.config, self.journal, self.summary = runnable, config, journal, summary
        self.stop_on_error = stop_on_error
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.busy: set[int] = set()  # threads inside a model call
        self.sent: set[int] = set()  # ... and already told to stop

    def invoke(self, input: tuple[int, Any], config: RunnableConfig | None = None, **kwargs: Any) -> None:
        index, value = input
        if self.stop.is_set():
            return
        ident = threading.get_ident()
        try:
            with self.lock:
                self.busy.add(ident)
            try:
                outcome = self.runnable.invoke(value, self.config)
            except _Cancelled:
                raise
            except BaseException as err:  # recorded: a Ctrl-C-like error in one call must not end the others
                outcome = err
            finally:
                with self.lock:  # a stop that came after the call returned is withdrawn: its result is kept
                    self.busy.discard(ident)
                    if ident in self.sent:
                        self.sent.discard(ident)
                        _async_raise(ident, None)
            self._emit(index, value, outcome)
        except _Cancelled:
            return  # stopped after Ctrl-C: counts as not run

    def _emit(self, index: int, value: Any, outcome: Any) -> None:
        s = self.summary
        with self.lock:
            if s.count(index, outcome) and self.stop_on_error:
                s.stopped_on_error = s.stopped_on_error or s.ok + s.failed + s.skipped < s.total
                self.stop.set()
            note = f"{s.ok} ok, {s.failed} failed"
        self.journal.write(record(index, value, outcome), description=note)

    def cancel(self) -> None:
        """Stop every call in flight at its next Python step (each thread is told once)."""
        self.stop.set()
        with self.lock:
            for ident in self.busy - self.sent:
                self.sent.add(ident)
                _async_raise(ident, _Cancelled)


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
    """Invoke `runnable` on each input (`max_concurrency` at a time, LangChain's `batch_as_completed`) and write
    JSONL lines ``{"index", "input", "output"}`` or ``{"index", "input", "error", "error_type"}`` as each finishes.

    resume: with a file `out`, skip indices that already have an output and append to it (a last line cut by a
    crash is dropped first, so no record is glued onto it). A file `out` is created (or truncated) only when the
    first result is written: a run that fails or is interrupted before that leaves no empty file behind.
    Ctrl-C returns a summary with ``interrupted=True``: calls in flight are stopped (results that finish while
    they stop are still written); unfinished items are simply absent from the file.
    """
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
    items = list(enumerate(inputs))
    summary = RunSummary(total=len(items), output=str(out) if isinstance(out, str | Path) else "")
    started = time.monotonic()
    with Journal(out, resume=resume, label="running", total=len(items), progress=progress) as journal:
        todo = [(i, v) for i, v in items if i not in journal.done]
        summary.skipped = len(items) - len(todo)
        journal.show(advance=summary.skipped)
        calls = _Calls(runnable, config, journal, summary, stop_on_error)
        failure: list[BaseException] = []
        finished = threading.Event()  # polled, not `join`ed: a join interrupted by Ctrl-C marks the thread dead

        def drain() -> None:
            try:
                for _ in calls.batch_as_completed(todo, {"max_concurrency": max_concurrency}):
                    pass
            except BaseException as err:  # the journal could not be written: the caller raises it
                failure.append(err)
            finally:
                finished.set()

        # batch_as_completed blocks in `wait`, which Ctrl-C does not interrupt: it runs in a thread (with the
        # caller's context: the run history, --record) while this one polls, stays responsive and stops it.
        driver = threading.Thread(target=contextvars.copy_context().run, args=(drain,), daemon=True)
        try:
            driver.start()  # inside: the first call may already be interrupted while this one waits for it
            while not finished.wait(0.25):
                pass
        except KeyboardInterrupt:
            summary.interrupted = True
            _stop(calls, finished)
        if failure and not summary.interrupted:
            raise failure[0]
    summary.seconds = time.monotonic() - started
    return summary


def _stop(calls: _Calls, finished: threading.Event) -> None:
    """After Ctrl-C: stop the calls in flight and wait (at most `CANCEL_GRACE_S`) until the pool has wound down.

    A worker thread still inside torch when the interpreter exits is torn down mid-call, and the process died with
    SIGABRT ("terminate called without an active exception") instead of exiting 130. Results that finish anyway
    are written; a second Ctrl-C stops the wait.
    """
    deadline = time.monotonic() + CANCEL_GRACE_S
    try:
        while not finished.is_set() and time.monotonic() < deadline:
            calls.cancel()  # again: a call that started just before the first one
            finished.wait(0.05)
    except KeyboardInterrupt:
        pass

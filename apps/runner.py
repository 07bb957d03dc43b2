"""Run a Runnable over many inputs, writing each result as a JSONL line the moment it finishes.

Nothing finished is lost: a failing item is recorded and the run goes on; Ctrl-C (or `stop_on_error`) stops it
with every finished line already flushed, and the `RunSummary` says what happened.

>>> import io
>>> from langchain_core.runnables import RunnableLambda
>>> out = io.StringIO()
>>> run_many(RunnableLambda(str.upper), ["a", "서울"], out, progress=False).line()
'2 inputs: 2 ok, 0 failed'
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any, TextIO

from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import BaseModel

from apps.common import progress_bar
from llms.errors import RecipesError

__all__ = ["InputFileError", "OutputFileError", "RunSummary", "read_inputs", "read_results", "run_many"]

MAX_ERRORS_KEPT = 20


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
        text = path.read_text(encoding="utf-8-sig")
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
    return values


def read_results(path: str | Path) -> dict[int, dict[str, Any]]:
    """The records of a results file by input index (a torn last line, from a crash, is skipped)."""
    records: dict[int, dict[str, Any]] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("index"), int):
            records[record["index"]] = record
    return records


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


def _worker(
    runnable: Runnable[Any, Any], config: RunnableConfig | None, tasks: queue.Queue[Any], results: queue.Queue[Any]
) -> None:
    while (task := tasks.get()) is not None:
        index, value = task
        try:
            results.put((index, value, True, runnable.invoke(value, config)))
        except BaseException as err:  # report everything: a dying daemon thread would hang the run
            results.put((index, value, False, err))


def _record(index: int, value: Any, ok: bool, outcome: Any) -> str:
    record: dict[str, Any] = {"index": index, "input": value}
    if ok:
        record["output"] = _jsonable(outcome)
    else:
        record["error"] = _error_text(outcome)
        record["error_type"] = type(outcome).__name__
    return json.dumps(record, ensure_ascii=False, default=str) + "\n"


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

    resume: with a file `out`, skip indices that already have an output and append to it.
    Ctrl-C returns a summary with ``interrupted=True`` (unfinished items are simply absent from the file).
    """
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
    items = list(enumerate(inputs))
    summary = RunSummary(total=len(items), output="" if not isinstance(out, str | Path) else str(out))
    done: set[int] = set()
    if resume and isinstance(out, str | Path) and Path(out).exists():
        done = {i for i, r in read_results(out).items() if "output" in r}
        summary.skipped = sum(1 for i, _ in items if i in done)
    todo = iter([(i, v) for i, v in items if i not in done])
    tasks: queue.Queue[Any] = queue.Queue()
    results: queue.Queue[Any] = queue.Queue()
    started = time.monotonic()
    with ExitStack() as stack:
        if isinstance(out, str | Path):
            try:
                sink: TextIO = stack.enter_context(open(out, "a" if resume else "w", encoding="utf-8"))
            except OSError as err:
                raise OutputFileError(f"cannot write results to {out}: {err.strerror}") from None
        else:
            sink = out
        bar = progress_bar("running", summary.total) if progress else None
        if bar is not None:
            stack.enter_context(bar)
            bar.update(bar.task_ids[0], advance=summary.skipped)
        workers = [
            threading.Thread(target=_worker, args=(runnable, config, tasks, results), daemon=True)
            for _ in range(min(max_concurrency, max(1, summary.total)))
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
                sink.write(_record(index, value, ok, outcome))
                sink.flush()
                if ok:
                    summary.ok += 1
                else:
                    summary.failed += 1
                    if len(summary.errors) < MAX_ERRORS_KEPT:
                        summary.errors.append((index, _error_text(outcome)))
                    if stop_on_error and feeding:
                        summary.stopped_on_error, feeding = True, False
                if bar is not None:
                    bar.update(bar.task_ids[0], advance=1, description=f"{summary.ok} ok, {summary.failed} failed")
        except KeyboardInterrupt:
            # Workers are daemons: an in-flight model call cannot hold the process; finished lines are on disk.
            summary.interrupted = True
        finally:
            for _ in workers:
                tasks.put(None)
    summary.seconds = time.monotonic() - started
    return summary

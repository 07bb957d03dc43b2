"""The sequential recipe's verbose trace as a LangChain callback handler: each step's inputs, output and time.

A recipe marks each step's run with `step_metadata`; `StepTrace` writes those runs, and nothing else, to a
file (standard error by default). ``verbose=True`` adds one to the recipe's config; any recipe traces when one
is passed in ``config["callbacks"]``.

>>> import io
>>> from langchain_core.runnables import RunnableLambda
>>> from chains.composition import Step, sequential
>>> recipe = sequential(Step("size", RunnableLambda(lambda d: len(d["text"]))), inputs="text")
>>> out = io.StringIO()
>>> _ = recipe.invoke({"text": "영화"}, {"callbacks": [StepTrace(out)]})
>>> print(out.getvalue(), end="")
> Entering step 1/1 'size'
  input text: '영화'
  output size: 2
> Finished step 1/1 'size' in ...s
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from core.text import one_line

__all__ = ["STEP_METADATA", "StepTrace", "step_metadata"]

STEP_METADATA = "recipe_step"
"""The metadata key (on a step's own run, not inherited by the runs inside it) that `StepTrace` reads."""

_VALUE_CHARS = 300  # a trace line shows this much of each value; whole prompts drown the trace
_DEFERRED = {"input": ""}  # what LangChain reports as the input of a streamed run until the stream ends


def step_metadata(
    number: int, of: int, name: str, input_keys: Sequence[str], output_key: str, *, call: UUID, row: int, rows: int
) -> dict[str, Any]:
    """The metadata of step `number` (of `of`) for `row` of the `rows` that the recipe run `call` runs together."""
    step = {"number": number, "of": of, "name": name, "input_keys": list(input_keys), "output_key": output_key}
    return {STEP_METADATA: {**step, "call": str(call), "row": row, "rows": rows}}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 1] + "…"


@dataclass
class _Group:
    """One step run for a set of rows (one row for invoke and stream): its lines wait until every row has them."""

    step: dict[str, Any]
    started: float = field(default_factory=time.perf_counter)
    inputs: dict[int, Any] = field(default_factory=dict)
    outputs: dict[int, list[str]] = field(default_factory=dict)
    shown: set[int] = field(default_factory=set)  # rows whose input lines are written

    def _prefix(self, row: int) -> str:
        return f"  [{row}]" if self.step["rows"] > 1 else " "

    def _title(self) -> str:
        return f"step {self.step['number']}/{self.step['of']} {self.step['name']!r}"

    def input_lines(self, row: int) -> list[str]:
        self.shown.add(row)
        value = self.inputs[row]
        if not isinstance(value, Mapping):
            return [f"{self._prefix(row)} input: {_short(value)}"]
        keys = self.step["input_keys"] or list(value)
        return [f"{self._prefix(row)} input {k}: {_short(value[k])}" for k in keys if k in value]

    def start(self, row: int, inputs: Any) -> list[str]:
        """The lines to write once every row has started: the title, then each row's inputs if known yet."""
        self.inputs[row] = inputs
        if len(self.inputs) < self.step["rows"]:
            return []
        size = f" (batch of {self.step['rows']})" if self.step["rows"] > 1 else ""
        lines = [f"> Entering {self._title()}{size}"]
        for number in sorted(self.inputs):
            if self.inputs[number] != _DEFERRED:
                lines += self.input_lines(number)
        return lines

    def end(self, row: int, inputs: Any, *, output: Any = None, error: str | None = None) -> list[str]:
        """The lines to write once every row has ended: inputs held back, outputs or errors, the time."""
        if inputs is not None and row not in self.shown:
            self.inputs[row] = inputs  # a streamed run's input, known at its end
        what = f"failed: {error}" if error is not None else f"output {self.step['output_key']}: {_short(output)}"
        self.outputs[row] = [f"{self._prefix(row)} {what}"]
        if len(self.outputs) < self.step["rows"]:
            return []
        out = []
        for number in sorted(self.outputs):
            out += ([] if number in self.shown else self.input_lines(number)) + self.outputs[number]
        seconds = time.perf_counter() - self.started
        return [*out, f"> Finished {self._title()} in {seconds:.2f}s"]


class StepTrace(BaseCallbackHandler):
    """Writes each recipe step's inputs, output (or error) and time to `file` (standard error by default)."""

    run_inline = True  # called in order, also from async callers

    def __init__(self, file: TextIO | None = None) -> None:
        self.file = file
        self._lock = threading.Lock()  # a batch's rows may run in threads
        self._groups: dict[tuple[str, int], _Group] = {}
        self._runs: dict[UUID, tuple[tuple[str, int], int]] = {}  # a step's run -> its group and row

    def on_chain_start(
        self, serialized: Any, inputs: Any, *, run_id: UUID, metadata: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        step = (metadata or {}).get(STEP_METADATA)
        if not isinstance(step, dict):
            return
        key = (step["call"], step["number"])
        with self._lock:
            group = self._groups.setdefault(key, _Group(step))
            if step["row"] in group.inputs:
                return  # a run inside the step that was handed the step's own config: the step is traced once
            self._runs[run_id] = key, step["row"]
            self._write(group.start(step["row"], inputs))

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, kwargs.get("inputs"), output=outputs)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, kwargs.get("inputs"), error=one_line(f"{type(error).__name__}: {error}", _VALUE_CHARS))

    def _end(self, run_id: UUID, inputs: Any, **outcome: Any) -> None:
        with self._lock:
            if run_id not in self._runs:
                return
            key, row = self._runs.pop(run_id)
            lines = self._groups[key].end(row, inputs, **outcome)
            if lines:
                del self._groups[key]
            self._write(lines)

    def _write(self, lines: list[str]) -> None:
        if not lines:
            return
        file = self.file if self.file is not None else sys.stderr  # looked up late: tests swap stderr
        text = "\n".join(lines) + "\n"
        try:
            file.write(text)
        except UnicodeEncodeError:  # a terminal that cannot show Korean still gets a readable trace
            encoding = getattr(file, "encoding", None) or "ascii"
            file.write(text.encode(encoding, "backslashreplace").decode(encoding))
        file.flush()

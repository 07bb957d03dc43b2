"""The playground's step panel: a LangChain callback handler that records each step's input, output and time.

A "step" is a direct child run of the recipe's top run: the three named steps of movie night, or the prompt,
model and parser of an LCEL pipe such as perfect day.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from core.text import one_line

__all__ = ["PREVIEW_CHARS", "StepRecord", "StepRecorder", "preview"]

PREVIEW_CHARS = 300  # per cell: the panel is an overview; the JSON view holds the whole result


def preview(value: Any, limit: int = PREVIEW_CHARS) -> str:
    """`value` as one short line: prompts and messages by their text, pydantic models and dicts as JSON."""
    if hasattr(value, "to_string"):  # a PromptValue
        value = value.to_string()
    elif hasattr(value, "generations"):  # an LLMResult
        value = " | ".join(g.text for gens in value.generations for g in gens)
    elif hasattr(value, "content") and hasattr(value, "type"):  # a message
        value = f"{value.type}: {value.content}"
    elif hasattr(value, "model_dump"):
        value = value.model_dump()
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in ("input", "output"):
        value = next(iter(value.values()))  # LangChain wraps plain values in {"input": ...} / {"output": ...}
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False, default=preview)
    return one_line(value, limit)


@dataclass
class StepRecord:
    """One step as the panel shows it."""

    name: str
    input: str
    output: str = ""
    seconds: float | None = None
    started: float = 0.0
    error: str | None = None

    def row(self) -> list[Any]:
        took = "" if self.seconds is None else round(self.seconds, 2)
        return [self.name, self.input, f"error: {self.error}" if self.error else self.output, took]


class StepRecorder(BaseCallbackHandler):
    """Pass in ``config={"callbacks": [recorder]}``; `rows()` then lists the top run's direct children in order."""

    COLUMNS = ("step", "input", "output", "seconds")

    def __init__(self) -> None:
        self.root: UUID | None = None
        self.steps: dict[UUID, StepRecord] = {}
        self._lock = threading.Lock()  # batched steps report from a thread pool

    def _start(self, run_id: UUID, parent_run_id: UUID | None, name: str, value: Any) -> None:
        with self._lock:
            if self.root is None and parent_run_id is None:
                self.root = run_id
            elif parent_run_id is not None and parent_run_id == self.root:
                self.steps[run_id] = StepRecord(name, preview(value), started=time.monotonic())

    def _end(self, run_id: UUID, value: Any = None, error: BaseException | None = None, inputs: Any = None) -> None:
        with self._lock:
            step = self.steps.get(run_id)
            if step is None:
                return
            step.seconds = time.monotonic() - step.started
            if inputs is not None and not step.input:  # a streamed step's input is known only at its end
                step.input = preview(inputs)
            if error is not None:
                step.error = one_line(f"{type(error).__name__}: {error}", PREVIEW_CHARS)
            else:
                step.output = preview(value)

    def on_chain_start(
        self, serialized: dict[str, Any] | None, inputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._start(run_id, parent_run_id, kwargs.get("name") or _name(serialized, "chain"), inputs)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, inputs: Any = None, **kwargs: Any) -> None:
        self._end(run_id, outputs, inputs=inputs)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, error=error)

    def on_chat_model_start(
        self, serialized: dict[str, Any] | None, messages: list[list[Any]], *, run_id: UUID,
        parent_run_id: UUID | None = None, **kwargs: Any,
    ) -> None:
        text = "\n".join(f"{m.type}: {m.content}" for batch in messages for m in batch)
        self._start(run_id, parent_run_id, kwargs.get("name") or _name(serialized, "model"), text)

    def on_llm_start(
        self, serialized: dict[str, Any] | None, prompts: list[str], *, run_id: UUID,
        parent_run_id: UUID | None = None, **kwargs: Any,
    ) -> None:
        self._start(run_id, parent_run_id, kwargs.get("name") or _name(serialized, "llm"), "\n".join(prompts))

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, response)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, error=error)

    def rows(self) -> list[list[Any]]:
        with self._lock:
            return [step.row() for step in self.steps.values()]


def _name(serialized: dict[str, Any] | None, default: str) -> str:
    if not serialized:
        return default
    return str(serialized.get("name") or (serialized.get("id") or [default])[-1])

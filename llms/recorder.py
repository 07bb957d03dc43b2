"""Recording model calls: `StepNames` names the recipe step a call belongs to, `Recorder` appends each call to
a cassette file (`llms.cassette`), `recording()` records every call inside a block."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import IO, Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.outputs import ChatGeneration, LLMResult
from langchain_core.tracers.context import register_configure_hook

from llms.request_keys import SPEC_KEY, key_of, model_defaults, request, tag_model
from llms.serial import to_jsonable

__all__ = ["Recorder", "StepNames", "active_recorder", "active_steps", "is_plumbing", "recording"]

_GENERIC = frozenset({"add_format_instructions", "raw", "value", "Reask", "chain"})
_MAX_TRACKED = 8192
_STEPS: ContextVar[StepNames | None] = ContextVar("recipes_steps", default=None)
register_configure_hook(_STEPS, inheritable=True)


def is_plumbing(name: str | None) -> bool:
    """A LangChain building block's name (RunnableSequence, StrOutputParser, ...) rather than a recipe's step."""
    name = name or ""
    return name.startswith("Runnable") or name.endswith(("Parser", "PromptTemplate")) or name in _GENERIC


class StepNames(BaseCallbackHandler):
    """Remembers each chain run's name and parent, to name the step a model call belongs to."""

    raise_error = False

    def __init__(self) -> None:
        super().__init__()
        self._names: dict[UUID, tuple[str, UUID | None]] = {}
        self._names_lock = threading.Lock()

    def on_chain_start(
        self, serialized: dict[str, Any] | None, inputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        name = str(kwargs.get("name") or (serialized or {}).get("name") or "chain")
        with self._names_lock:
            if len(self._names) >= _MAX_TRACKED:
                self._names.pop(next(iter(self._names)))
            self._names[run_id] = (name, parent_run_id)

    def step(self, parent: UUID | None) -> str:
        """The named steps above `parent`, outermost first (``movie_night/genres``); LangChain plumbing left out."""
        names: list[str] = []
        with self._names_lock:
            while parent is not None and parent in self._names and len(names) < 64:
                name, parent = self._names[parent]
                if not is_plumbing(name):
                    names.append(name)
        return "/".join(reversed(names)) or "(top level)"

    @classmethod
    @contextlib.contextmanager
    def track(cls) -> Iterator[StepNames]:
        """A context manager: step names tracked for every Runnable run inside it (`active_steps()` reads them)."""
        steps = cls()
        token = _STEPS.set(steps)
        try:
            yield steps
        finally:
            _STEPS.reset(token)


def active_steps() -> StepNames | None:
    return _STEPS.get()


def _response(gen: Any) -> dict[str, Any]:
    drop = {"cache_key", "cache_hit", "replayed"}
    if isinstance(gen, ChatGeneration):
        msg = gen.message
        meta = {k: v for k, v in to_jsonable(msg.response_metadata).items() if k not in drop}
        return {"type": "chat", "content": to_jsonable(msg.content), "response_metadata": meta,
                "usage_metadata": to_jsonable(getattr(msg, "usage_metadata", None))}
    info = {k: v for k, v in to_jsonable(gen.generation_info or {}).items() if k not in drop}
    return {"type": "text", "text": gen.text, "generation_info": info}


class Recorder(StepNames):
    """A callback handler appending every model call it sees to the cassette at `path` (`--record FILE`).

    `add_model(model, spec)` writes the model's capabilities and defaults first, so a replayed chain is built the
    same way (grammar or prompted JSON) and asks the same requests.
    """

    def __init__(self, path: str | Path, model: Any = None, *, spec: str | None = None) -> None:
        super().__init__()
        self.path = Path(path)
        self.calls = 0
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        self._pending: dict[UUID, dict[str, Any]] = {}
        if model is not None:
            self.add_model(model, spec=spec)

    def _write(self, obj: dict[str, Any]) -> None:
        with self._lock:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = self.path.open("a", encoding="utf-8")
            self._file.write(json.dumps(obj, ensure_ascii=False) + "\n")
            self._file.flush()

    def add_model(self, model: Any, spec: str | None = None) -> None:
        from llms.capabilities import capabilities_of

        caps = dataclasses.asdict(capabilities_of(model))
        if spec:
            tag_model(model, spec)
        self._write({"type": "model", "spec": spec, "capabilities": caps, "defaults": model_defaults(model),
                     "recorded_at": time.time()})

    def _start(self, run_id: UUID, parent: UUID | None, rendered: Any, kwargs: dict[str, Any]) -> None:
        params = kwargs.get("invocation_params") or {}
        asked = request(rendered, params.get("stop"), params, (kwargs.get("metadata") or {}).get(SPEC_KEY))
        with self._lock:
            self._pending[run_id] = {"type": "call", "key": key_of(asked), "step": self.step(parent), "request": asked}

    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[Any]], *, run_id: UUID,
        parent_run_id: UUID | None = None, **kwargs: Any,
    ) -> None:
        self._start(run_id, parent_run_id, messages[0] if messages else [], kwargs)

    def on_llm_start(
        self, serialized: dict[str, Any], prompts: list[str], *, run_id: UUID, parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._start(run_id, parent_run_id, prompts[0] if prompts else "", kwargs)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            entry = self._pending.pop(run_id, None)
        if entry is None or not response.generations or not response.generations[0]:
            return
        self._write({**entry, "response": _response(response.generations[0][0])})
        self.calls += 1

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            self._pending.pop(run_id, None)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


_RECORDER: ContextVar[Recorder | None] = ContextVar("recipes_recorder", default=None)
register_configure_hook(_RECORDER, inheritable=True)


def active_recorder() -> Recorder | None:
    """The Recorder of the `recording()` block we are in, if any."""
    return _RECORDER.get()


@contextlib.contextmanager
def recording(recorder: Recorder) -> Iterator[Recorder]:
    """A context manager: every model call inside it is recorded by `recorder` (closed at the end)."""
    token = _RECORDER.set(recorder)
    try:
        yield recorder
    finally:
        _RECORDER.reset(token)
        recorder.close()

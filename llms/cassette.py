"""Cassettes: a run's model calls as JSON lines (request key -> answer), written by `Recorder`, read by
`llms.replay`.

A request key is the hash of the rendered messages (or prompt), the stop strings and the call's generation options
(max_new_tokens, temperature, the JSON-schema grammar, response_format, ...), without the model's name, engine,
device or dtype: the same chain asks the same thing again whatever runs it, so replay answers by key, not by order.

File format (one JSON object a line; a file may hold several runs: `Recorder` appends)::

    {"type": "model", "spec": "local", "capabilities": {...}, "defaults": {...}, "recorded_at": ...}
    {"type": "call", "key": "3f2a...", "step": "movie_night/genres", "request": {...}, "response": {...}}

>>> request_key([("human", "hi")], None, {}) == request_key([("human", "hi")], [], {"seed": None})
True
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
import time
from collections.abc import Iterable
from contextvars import ContextVar
from pathlib import Path
from typing import IO, Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGeneration, LLMResult
from langchain_core.tracers.context import register_configure_hook

from llms.errors import RecipesError
from llms.serial import canonical, message_rows, to_jsonable

__all__ = [
    "Cassette", "CassetteError", "Recorder", "StepNames", "active_recorder", "active_steps", "is_plumbing",
    "model_defaults", "recording", "request", "request_key", "tag_model",
]

# What a call's invocation params say about which model runs, not about what it is asked: left out of keys.
IDENTITY_OPTIONS = frozenset({
    "_type", "model", "model_name", "engine", "device", "dtype", "stream", "streaming", "n",
    "ls_structured_output_format", "structured_output_format", "cassette",
})
SPEC_KEY = "recipes_spec"
_GENERIC = frozenset({"add_format_instructions", "raw", "value", "Reask", "chain"})
_MAX_TRACKED = 8192
_STEPS: ContextVar[StepNames | None] = ContextVar("recipes_steps", default=None)
register_configure_hook(_STEPS, inheritable=True)


def is_plumbing(name: str | None) -> bool:
    """A LangChain building block's name (RunnableSequence, StrOutputParser, ...) rather than a recipe's step."""
    name = name or ""
    return name.startswith("Runnable") or name.endswith(("Parser", "PromptTemplate")) or name in _GENERIC


class CassetteError(RecipesError, ValueError):
    """A cassette file that cannot be read (names the file and line)."""


def _pairs(messages: Any) -> list[dict[str, Any]]:
    if isinstance(messages, str):
        return message_rows(messages)
    rows = []
    for m in messages:
        if isinstance(m, BaseMessage):
            rows.append({"role": m.type, "content": m.text})
        else:  # ("role", "text") tuples, for tests and hand-written cassettes
            rows.append({"role": str(m[0]), "content": str(m[1])})
    return rows


def _options(options: dict[str, Any]) -> dict[str, Any]:
    return {k: to_jsonable(v) for k, v in sorted(options.items()) if k not in IDENTITY_OPTIONS and k != "stop"
            and v is not None}


def request(
    messages: Any, stop: Iterable[str] | None, options: dict[str, Any], model: str | None = None
) -> dict[str, Any]:
    """What is asked, as JSON: messages (role, text), stop strings, generation options, and which of the run's
    models is asked when it was tagged (`tag_model`): judge asks two models the same question."""
    asked = {"messages": _pairs(messages), "stop": list(stop or []), "options": _options(options)}
    return {**asked, "model": model} if model else asked


def request_key(messages: Any, stop: Iterable[str] | None, options: dict[str, Any], model: str | None = None) -> str:
    """The key replay answers by: a hash of `request(...)`."""
    text = canonical(request(messages, stop, options, model))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def tag_model(model: Any, spec: str) -> Any:
    """Name `model` (inside any `.bind` wrappers) in its callback metadata, so recordings and the run history say
    which of a run's models made a call (``metadata["recipes_spec"]``); returns `model`."""
    from llms.capabilities import unwrap

    inner = unwrap(model)
    if hasattr(inner, "metadata"):
        inner.metadata = {**(inner.metadata or {}), SPEC_KEY: spec}
    return model


def model_defaults(model: Any) -> dict[str, Any]:
    """A model's own generation settings as LangChain reports them in every call's invocation params (OpenAI's
    temperature, ...): replay adds them back, so keys match. Empty for our local models and the fake."""
    from llms.capabilities import unwrap

    inner = unwrap(model)
    params = getattr(inner, "asdict", None) or getattr(inner, "dict", None)
    try:
        found = params() if callable(params) else {}
    except Exception:
        found = {}
    return _options(dict(found))


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
    def track(cls) -> Any:
        """A context manager: step names tracked for every Runnable run inside it (`active_steps()` reads them)."""
        import contextlib

        @contextlib.contextmanager
        def block() -> Any:
            token = _STEPS.set(cls())
            try:
                yield _STEPS.get()
            finally:
                _STEPS.reset(token)

        return block()


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
        key = hashlib.sha256(canonical(asked).encode("utf-8", "surrogatepass")).hexdigest()[:32]
        with self._lock:
            self._pending[run_id] = {"type": "call", "key": key, "step": self.step(parent), "request": asked}

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


def recording(recorder: Recorder) -> Any:
    """A context manager: every model call inside it is recorded by `recorder` (closed at the end)."""
    import contextlib

    @contextlib.contextmanager
    def block() -> Any:
        token = _RECORDER.set(recorder)
        try:
            yield recorder
        finally:
            _RECORDER.reset(token)
            recorder.close()

    return block()


@dataclasses.dataclass
class Cassette:
    """A cassette file read back: answers by key (the last recording of a key wins) and the models recorded."""

    path: Path
    calls: dict[str, dict[str, Any]]
    models: list[dict[str, Any]]

    @classmethod
    def load(cls, path: str | Path) -> Cassette:
        path = Path(path)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as err:
            raise CassetteError(f"cannot read cassette {path}: {err.strerror or err}") from None
        calls: dict[str, dict[str, Any]] = {}
        models: list[dict[str, Any]] = []
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                kind = obj["type"]
                if kind == "call":
                    calls[str(obj["key"])] = obj
                elif kind == "model":
                    models.append(obj)
            except (ValueError, KeyError, TypeError) as err:
                raise CassetteError(f"{path}:{n}: not a cassette line ({type(err).__name__}: {err})") from None
        return cls(path, calls, models)

    def model(self, spec: str | None = None) -> dict[str, Any]:
        """The recorded model for `spec` (else the first one recorded; ``{}`` when none was)."""
        for entry in self.models:
            if spec is not None and entry.get("spec") == spec:
                return entry
        return self.models[0] if self.models else {}

"""The writing half of the run history: a run's row, its queued steps, redaction, and failing quietly.

`llms.history.RunLog` (the LangChain callback handler) builds on `RunWriter`; steps are queued and written in one
transaction at most `FLUSH_S` after they end, at each top-level run's end and at `finish()`.
"""

from __future__ import annotations

import functools
import json
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from llms.history_db import HistoryDB
from llms.redact import env_secrets, redact
from llms.serial import to_jsonable

__all__ = ["FLUSH_S", "MAX_CHARS", "RunWriter", "guarded"]

MAX_CHARS = 20_000  # per stored string; the model's answers are far shorter, a chain's inputs may not be
FLUSH_S = 0.5  # steps are written in one transaction at most this long after they end (and at each run's end)
_FLUSH_ROWS = 64
# Where a secret could hide (a superset of what `llms.redact` masks): text without any of these is left as it is.
_MAYBE_SECRET = re.compile(r"(?i)key|token|secret|passw|authoriz|bearer|basic|://|sk-|hf_|gh[pousr]_|[?&;][\w-]+=")
F = TypeVar("F", bound=Callable[..., Any])


def guarded(method: F) -> F:
    """Run a callback under the handler's lock; the first failure turns logging off for this run (one warning)."""

    @functools.wraps(method)
    def wrapper(self: RunWriter, *args: Any, **kwargs: Any) -> Any:
        if self.disabled:
            return None
        try:
            with self._lock:
                return method(self, *args, **kwargs)
        except Exception as exc:
            self._fail(exc)
            return None

    return wrapper  # type: ignore[return-value]


class RunWriter:
    """One run's row and steps in the history at `path` (default ``$RECIPES_HOME/runs.db``), thread-safe."""

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        app: str = "python",
        args: Any = None,
        run_id: str | None = None,
        max_chars: int = MAX_CHARS,
        db: HistoryDB | None = None,
    ) -> None:
        self.db = db if db is not None else HistoryDB(path)
        self.run_id = run_id or uuid.uuid4().hex[:16]
        self.app = app
        self.args = args
        self.max_chars = max_chars
        self.disabled = False
        self.models: list[dict[str, Any]] = []
        self._lock = threading.RLock()
        self._started = False
        self._buffer: list[dict[str, Any]] = []
        self._flushed = time.perf_counter()
        self._secrets = env_secrets()

    # -- life cycle ---------------------------------------------------------------------------------------------
    def _fail(self, exc: BaseException) -> None:
        if not self.disabled:
            self.disabled = True
            msg = redact(f"{type(exc).__name__}: {exc}", self._secrets)
            print(f"warning: run history is off for this run ({self.db.path}): {msg}", file=sys.stderr)

    def _ensure_started(self) -> None:
        if not self._started:
            self._started = True
            self.db.start_run(self.run_id, app=self.app, args=self._clean(self.args))

    @guarded
    def start(self) -> None:
        """Write the run row now (otherwise it is written at the first event)."""
        self._ensure_started()

    @guarded
    def note_model(self, spec: str, capabilities: Any = None) -> None:
        """Record a model the run uses: its spec, and its backend / engine when `capabilities` are given."""
        entry = {"spec": spec, **{k: getattr(capabilities, k, None) for k in ("backend", "engine")}}
        self.models.append({k: v for k, v in entry.items() if v is not None})
        self._ensure_started()
        self.db.set_models(self.run_id, self._clean(self.models))

    def _add(self, step: dict[str, Any]) -> dict[str, Any]:
        """Queue a finished step; the queue is written in one transaction every `FLUSH_S` (or 64 steps)."""
        self._buffer.append(step)
        if len(self._buffer) >= _FLUSH_ROWS or time.perf_counter() - self._flushed >= FLUSH_S:
            self._flush()
        return step

    def _flush(self) -> None:
        rows, self._buffer, self._flushed = self._buffer, [], time.perf_counter()
        if rows:
            for step, row in zip(rows, self.db.add_steps(self.run_id, rows), strict=True):
                step["_row"] = row

    def _amend(self, step: dict[str, Any], fields: dict[str, Any]) -> None:
        """Set `fields` on a step, queued or written."""
        if "_row" in step:
            self.db.update_step(step["_row"], fields)
        else:
            step.update(fields)

    @guarded
    def flush(self) -> None:
        """Write the queued steps now."""
        self._flush()

    @guarded
    def finish(self, status: str = "ok", exit_code: int | None = None, error: BaseException | None = None) -> None:
        """Record how the run ended (status ``ok``/``error``/``interrupted``, exit code, error type and message)."""
        self._ensure_started()
        self._flush()
        err = (type(error).__name__, self._redact(str(error))) if error is not None else None
        self.db.end_run(self.run_id, status=status, exit_code=exit_code, error=err)

    # -- values -------------------------------------------------------------------------------------------------
    def _redact(self, text: str) -> str:
        if not _MAYBE_SECRET.search(text) and not any(s in text for s in self._secrets):
            return text
        return redact(text, self._secrets)

    def _clean(self, value: Any) -> str | None:
        """`value` as JSON text, long strings cut, secrets masked."""
        if value is None:
            return None
        return self._redact(json.dumps(to_jsonable(value, self.max_chars), ensure_ascii=False))

    def _text(self, value: str | None) -> str | None:
        return None if value is None else self._redact(to_jsonable(value, self.max_chars))

    def _close(self, step: dict[str, Any]) -> dict[str, Any]:
        t0 = step.pop("_t0", None)
        step["ended"] = time.time()
        step["latency_s"] = time.perf_counter() - t0 if t0 is not None else None
        return step

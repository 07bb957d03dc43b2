"""Run history: what each step and model call of a run sent and received, in SQLite (`llms.history_db`).

`RunLog` is a LangChain callback handler, so it logs any Runnable::

    from llms.history import RunLog
    chain.invoke(x, config={"callbacks": [RunLog()]})        # one run in ~/.local/share/chain-recipes/runs.db
    with RunLog(app="notebook").activate():                  # or everything inside the block
        chain.invoke(x)

Per model call: the rendered messages, the raw output (and what the next parser made of it), finish reason, token
usage, latency, model name, engine, options, cache hit, error; per chain step: name, inputs, outputs, latency,
error. Secrets are masked before anything is written (`llms.redact`: secret environment values, key headers,
``sk-...`` tokens). A failure to log never breaks the run: one warning on stderr, then logging stops for that run.
The CLI logs every app run unless ``--no-log`` or ``RECIPES_NO_LOG=1``; ``recipes logs`` reads it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.outputs import ChatGeneration, LLMResult
from langchain_core.tracers.context import register_configure_hook

from llms.history_writer import MAX_CHARS, RunWriter, guarded
from llms.request_keys import SPEC_KEY
from llms.serial import message_rows

__all__ = ["MAX_CHARS", "RunLog", "active_runlog"]

_MAX_PENDING = 4096  # outputs remembered to link a model call to the parser that reads it
_RUNLOG: ContextVar[RunLog | None] = ContextVar("recipes_runlog", default=None)
register_configure_hook(_RUNLOG, inheritable=True)


def active_runlog() -> RunLog | None:
    """The RunLog of the `activate()` block we are in, if any."""
    return _RUNLOG.get()


def _name(serialized: dict[str, Any] | None, kwargs: dict[str, Any], default: str) -> str:
    if kwargs.get("name"):
        return str(kwargs["name"])
    serialized = serialized or {}
    ident = serialized.get("id")
    return str(serialized.get("name") or (ident[-1] if isinstance(ident, list) and ident else default))


def _usage(gen: Any, llm_output: dict[str, Any] | None) -> dict[str, Any]:
    usage = getattr(getattr(gen, "message", None), "usage_metadata", None) or {}
    if not usage:
        info = getattr(gen, "generation_info", None) or {}
        usage = info.get("usage") or (llm_output or {}).get("token_usage") or {}
    inp = usage.get("input_tokens", usage.get("prompt_tokens"))
    out = usage.get("output_tokens", usage.get("completion_tokens"))
    total = usage.get("total_tokens", (inp or 0) + (out or 0) if inp is not None or out is not None else None)
    return {"input_tokens": inp, "output_tokens": out, "total_tokens": total}


class RunLog(RunWriter, BaseCallbackHandler):
    """Writes one run (this handler's lifetime) to the history at `path` (default ``$RECIPES_HOME/runs.db``).

    `app` and `args` label the run (`args` is redacted); `run_id` is made unless given. Thread-safe: batched and
    concurrent calls log under one lock. The run row is written at the first event (or `start()`); `finish()`
    records how it ended (the CLI does this; in Python each top-level chain's end stamps the end time).
    """

    raise_error = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """`RunWriter`'s arguments: ``path``, then ``app``, ``args``, ``run_id``, ``max_chars``, ``db`` by name."""
        super().__init__(*args, **kwargs)  # BaseCallbackHandler has no __init__ of its own
        self._open: dict[UUID, dict[str, Any]] = {}
        self._outputs: dict[int, tuple[Any, dict[str, Any]]] = {}  # id(a call's output) -> (output, its step)
        self._parser_of: dict[UUID, dict[str, Any]] = {}  # a parser's run -> the step of the call it reads

    @contextlib.contextmanager
    def activate(self, *, finish: bool = True) -> Iterator[RunLog]:
        """Log every Runnable run inside the block (threads LangChain starts included); with `finish`, record how
        the block ended (``ok``, ``error`` or ``interrupted``) when it does."""
        token = _RUNLOG.set(self)
        try:
            yield self
        except BaseException as exc:
            if finish:
                self.finish("interrupted" if isinstance(exc, KeyboardInterrupt) else "error", error=exc)
            raise
        else:
            if finish:
                self.finish("ok")
        finally:
            _RUNLOG.reset(token)

    # -- model calls --------------------------------------------------------------------------------------------
    def _open_call(self, kind: str, run_id: UUID, parent: UUID | None, rendered: Any, **kw: Any) -> None:
        self._ensure_started()
        params = dict(kw.get("invocation_params") or {})
        self._open[run_id] = {
            "kind": kind,
            "lc_id": str(run_id),
            "parent_lc_id": str(parent) if parent else None,
            "name": _name(kw.get("serialized"), kw, params.get("_type") or kind),
            "started": time.time(),
            "_t0": time.perf_counter(),
            "messages": self._clean(message_rows(rendered)),
            "options": self._clean({**params, **{k: v for k, v in (kw.get("options") or {}).items() if v}}),
            "model_name": params.get("model_name") or params.get("model") or (kw.get("metadata") or {}).get(
                "ls_model_name"
            ),
            "engine": params.get("engine"),
            "spec": (kw.get("metadata") or {}).get(SPEC_KEY),  # set by the CLI (llms.request_keys.tag_model)
        }

    @guarded
    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[Any]], *, run_id: UUID,
        parent_run_id: UUID | None = None, **kwargs: Any,
    ) -> None:
        self._open_call("chat", run_id, parent_run_id, messages[0] if messages else [], serialized=serialized, **kwargs)

    @guarded
    def on_llm_start(
        self, serialized: dict[str, Any], prompts: list[str], *, run_id: UUID, parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._open_call("llm", run_id, parent_run_id, prompts[0] if prompts else "", serialized=serialized, **kwargs)

    @guarded
    def on_llm_end(self, response: LLMResult, *, run_id: UUID, parent_run_id: UUID | None = None, **kw: Any) -> None:
        step = self._open.pop(run_id, None)
        if step is None:
            return
        gen = response.generations[0][0] if response.generations and response.generations[0] else None
        info = (getattr(gen, "generation_info", None) or {}) if gen is not None else {}
        meta = gen.message.response_metadata if isinstance(gen, ChatGeneration) else {}
        step.update(_usage(gen, response.llm_output))
        step["raw_output"] = self._text(gen.text if gen is not None else None)
        step["finish_reason"] = meta.get("finish_reason") or info.get("finish_reason")
        step["cache_hit"] = int(bool(meta.get("cache_hit") or info.get("cache_hit")))
        step["model_name"] = meta.get("model_name") or step.get("model_name")
        self._add(self._close(step))
        if gen is not None:
            if len(self._outputs) >= _MAX_PENDING:
                self._outputs.pop(next(iter(self._outputs)))
            output = gen.message if isinstance(gen, ChatGeneration) else gen.text
            self._outputs[id(output)] = (output, step)
        if parent_run_id is None:  # a model invoked on its own: its call is the whole run so far
            self._flush()

    @guarded
    def on_llm_error(
        self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        step = self._open.pop(run_id, None)
        if step is not None:
            step.update(error_type=type(error).__name__, error_message=self._redact(str(error)), cache_hit=0)
            self._add(self._close(step))
        if parent_run_id is None:
            self._flush()

    def on_cache_hit(self, prompt: str, text: str, finish_reason: str | None = None) -> None:
        """A text-completion cache hit (LangChain runs no callbacks for those): logged as a model call."""
        if self.disabled:
            return
        try:
            with self._lock:
                self._ensure_started()
                now = time.time()
                self._add({
                    "kind": "llm", "name": "cache", "started": now, "ended": now, "latency_s": 0.0,
                    "messages": self._clean(message_rows(prompt)), "raw_output": self._text(text),
                    "finish_reason": finish_reason, "cache_hit": 1,
                })
        except Exception as exc:
            self._fail(exc)

    # -- chain steps --------------------------------------------------------------------------------------------
    @guarded
    def on_chain_start(
        self, serialized: dict[str, Any] | None, inputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._ensure_started()
        last = self._outputs.get(id(inputs))
        if last is not None and last[0] is inputs and kwargs.get("run_type") == "parser":
            self._parser_of[run_id] = last[1]  # the first parser to read a model call's answer
            del self._outputs[id(inputs)]
        self._open[run_id] = {
            "kind": "chain",
            "lc_id": str(run_id),
            "parent_lc_id": str(parent_run_id) if parent_run_id else None,
            "name": _name(serialized, kwargs, "chain"),
            "started": time.time(),
            "_t0": time.perf_counter(),
            "inputs": self._clean(inputs),
        }

    @guarded
    def on_chain_end(self, outputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kw: Any) -> None:
        step = self._open.pop(run_id, None)
        if step is None:
            return
        step["parsed_output"] = self._clean(outputs)
        self._add(self._close(step))
        call = self._parser_of.pop(run_id, None)
        if call is not None:
            self._amend(call, {"parsed_output": step["parsed_output"]})
        if parent_run_id is None:
            self._flush()
            self.db.end_run(self.run_id, status="ok")

    @guarded
    def on_chain_error(
        self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None, **kw: Any
    ) -> None:
        step = self._open.pop(run_id, None)
        if step is None:
            return
        fields = {"error_type": type(error).__name__, "error_message": self._redact(str(error))}
        self._add(self._close({**step, **fields}))
        call = self._parser_of.pop(run_id, None)
        if call is not None:  # the parser rejected the model's answer: say so on the call itself
            self._amend(call, fields)
        if parent_run_id is None:
            self._flush()
            self.db.end_run(self.run_id, status="error", error=(fields["error_type"], fields["error_message"]))

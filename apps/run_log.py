"""What every app run gets around it: the run history, ``--cache``, ``--record FILE`` and ``--replay FILE``.

`apps.common` calls in here: `add_run_arguments` (the options), `logged` (wraps an app's `run`), `attach` (a
loaded model gets its cache and is noted in the history and the cassette) and `replay_model` (no model is loaded).
Imports stay lazy: ``--help`` loads no LangChain.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
from collections.abc import Callable
from typing import Any

__all__ = ["add_run_arguments", "app_name", "attach", "logged", "logging_enabled", "replay_model"]

_SECRET_ARG = re.compile(r"(?i)(key|token|secret|password)")
_CACHES: dict[str, Any] = {}


def add_run_arguments(group: Any) -> None:
    """``--cache``, ``--no-log``, ``--record FILE``, ``--replay FILE`` (added to every app's model options)."""
    group.add_argument(
        "--cache", action="store_true", help="reuse complete answers from earlier runs ($RECIPES_HOME/cache.db)"
    )
    group.add_argument(
        "--no-log", action="store_true", help="do not write this run to the history (env RECIPES_NO_LOG=1)"
    )
    group.add_argument("--record", metavar="FILE", help="append this run's model calls to a JSONL cassette")
    group.add_argument(
        "--replay", metavar="FILE", help="answer model calls from a cassette (--record); no model is loaded"
    )


def logging_enabled(args: argparse.Namespace) -> bool:
    off = os.environ.get("RECIPES_NO_LOG", "").strip().lower() in ("1", "true", "yes", "on")
    return not off and not getattr(args, "no_log", False)


def app_name(prog: str) -> str:
    """``recipes run json-qa`` -> ``json-qa``."""
    last = prog.split()[-1] if prog.split() else prog
    return last.removeprefix("apps.").replace("_", "-")


def _args_for_log(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in vars(args).items():
        if callable(value):
            continue
        out[name] = "***" if value is not None and _SECRET_ARG.search(name) else value
    return out


def logged(run: Callable[[argparse.Namespace], int], prog: str) -> Callable[[argparse.Namespace], int]:
    """`run` with the history (unless off), the cassette recorder (``--record``) and step names (``--replay``)."""

    def wrapped(args: argparse.Namespace) -> int:
        if not (logging_enabled(args) or getattr(args, "record", None) or getattr(args, "replay", None)):
            return run(args)
        with contextlib.ExitStack() as stack:
            log = _start_log(args, prog, stack) if logging_enabled(args) else None
            if getattr(args, "record", None):
                from llms.cassette import Recorder, recording

                stack.enter_context(recording(Recorder(args.record)))
            if getattr(args, "replay", None):
                from llms.cassette import StepNames

                stack.enter_context(StepNames.track())
            try:
                code = run(args)
            except KeyboardInterrupt as exc:
                if log is not None:
                    log.finish("interrupted", 130, exc)
                raise
            except Exception as exc:
                if log is not None:
                    log.finish("error", 1, exc)
                raise
            if log is not None:
                log.finish("ok" if code == 0 else "error", code)
            return code

    return wrapped


def _start_log(args: argparse.Namespace, prog: str, stack: contextlib.ExitStack) -> Any:
    from llms.history import RunLog

    try:
        log = RunLog(app=app_name(prog), args=_args_for_log(args))
    except Exception as exc:  # a history that cannot even be opened never stops the app
        import sys

        print(f"warning: run history is off for this run: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None
    log.start()
    stack.enter_context(log.activate(finish=False))
    return log


def _shared_cache() -> Any:
    from llms.cache import SQLiteCache, default_cache_path

    path = str(default_cache_path())
    if path not in _CACHES:
        _CACHES[path] = SQLiteCache(path)
    return _CACHES[path]


def _note(model: Any, spec: str, label: str | None = None) -> None:
    from llms.capabilities import capabilities_of
    from llms.cassette import active_recorder, tag_model
    from llms.history import active_runlog

    if spec:
        tag_model(model, spec)  # which model made each call: the history's `spec`, the cassette's keys

    log = active_runlog()
    if log is not None:
        log.note_model(label or spec, capabilities_of(model))
    recorder = active_recorder()
    if recorder is not None:
        recorder.add_model(model, spec=spec)


def attach(model: Any, args: argparse.Namespace) -> Any:
    """A freshly loaded model: with ``--cache``, its per-model cache; noted in the history and the cassette."""
    spec = str(getattr(args, "model", "") or "")
    if getattr(args, "cache", False):
        from llms.cache import with_cache

        with_cache(model, _shared_cache(), spec=spec)
    _note(model, spec)
    return model


def replay_model(args: argparse.Namespace, *, chat: bool = True) -> Any:
    """The replay model for ``--replay FILE`` (chat, or text-completion with `chat=False`), for ``--model``'s
    recorded capabilities; nothing is loaded."""
    from llms.replay import ReplayChatModel, ReplayLLM

    spec = str(getattr(args, "model", "") or "") or None
    model = (ReplayChatModel if chat else ReplayLLM).from_file(args.replay, spec=spec)
    _note(model, spec or "", label=f"replay:{args.replay}")
    return model

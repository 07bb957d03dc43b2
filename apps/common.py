"""What every app shares: model options on the command line, streaming output, one-line errors."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any

__all__ = [
    "add_model_arguments",
    "app_main",
    "error_line",
    "llm_from_args",
    "model_from_args",
    "print_json",
    "print_stream",
    "progress_bar",
    "read_line",
    "wants_stream",
]


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every app takes: which model, how to generate, and how to print."""
    group = parser.add_argument_group("model and output")
    group.add_argument(
        "--model",
        default=os.environ.get("RECIPES_MODEL", "local"),
        help="model spec: local (default), hf:<id or dir>, openai:<model>, fake:<text> (env RECIPES_MODEL)",
    )
    group.add_argument("--base-url", help="OpenAI-compatible server URL for openai: specs (env OPENAI_BASE_URL)")
    group.add_argument(
        "--fallback",
        metavar="SPEC",
        help="if the server is unreachable, switch to this spec (e.g. local) and say so",
    )
    group.add_argument("--timeout", type=float, help="seconds to wait for a server's answer (openai: specs)")
    group.add_argument("--max-retries", type=int, help="retries on 429/5xx/connection errors (openai: specs)")
    group.add_argument("--max-new-tokens", type=int, help="cap on generated tokens")
    group.add_argument("--temperature", type=float, help="0 = greedy (default)")
    group.add_argument("--seed", type=int, help="seed for sampling")
    group.add_argument("--threads", type=int, help="torch threads for local models (env RECIPES_THREADS)")
    group.add_argument(
        "--device", help="local models: auto (default: CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps"
    )
    group.add_argument(
        "--dtype", help="local models: auto (half precision on a GPU, float32 on CPU), float32, bfloat16, float16"
    )
    group.add_argument("--engine", help="local models: auto (default), onnxruntime or transformers")
    stream = group.add_mutually_exclusive_group()
    stream.add_argument(
        "--stream",
        dest="stream",
        action="store_true",
        default=None,
        help="print tokens as they arrive (default on a terminal)",
    )
    stream.add_argument("--no-stream", dest="stream", action="store_false", help="print the whole answer at once")
    group.add_argument("--json", action="store_true", help="print one machine-readable JSON object")
    group.add_argument("--verbose", action="store_true", help="trace each step: inputs, output, time")
    from apps.run_log import add_run_arguments  # --cache, --no-log, --record FILE, --replay FILE

    add_run_arguments(group)


_OPTION_NAMES = (
    "max_new_tokens", "temperature", "seed", "threads", "device", "dtype", "engine", "base_url", "timeout",
    "max_retries",
)


def _options(args: argparse.Namespace, prefer: dict[str, Any] | None) -> dict[str, Any]:
    """The user's options (a backend refuses those it does not take) over the app's `prefer`red defaults, which
    apply only where the backend takes them (movie night's repetition_penalty is local-only)."""
    from llms import accepted_options, parse_spec

    given = {n: getattr(args, n) for n in _OPTION_NAMES if getattr(args, n, None) is not None}
    accepted = accepted_options(parse_spec(args.model).provider)
    defaults = {k: v for k, v in (prefer or {}).items() if k in accepted and v is not None}
    return {**defaults, **given}


def _quiet_transformers() -> None:
    # Apps print answers; transformers' weight-loading bars and generation warnings are noise there.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:
        pass


def model_from_args(args: argparse.Namespace, prefer: dict[str, Any] | None = None, **overrides: Any) -> Any:
    """The chat model the user asked for, with `--fallback` applied when given; `prefer`: the app's defaults for
    options only some backends take; `overrides`: options the app sets on every backend."""
    from apps.run_log import attach, replay_model
    from llms import load_model

    if getattr(args, "replay", None):
        return replay_model(args)
    _quiet_transformers()
    model = attach(load_model(args.model, **{**_options(args, prefer), **overrides}), args)
    if getattr(args, "fallback", None) and args.model.startswith("openai:"):
        from llms.fallback import with_fallback

        return with_fallback(model, args.fallback, notify=lambda msg: print(f"note: {msg}", file=sys.stderr))
    return model


def llm_from_args(args: argparse.Namespace, prefer: dict[str, Any] | None = None, **overrides: Any) -> Any:
    """The text-completion LLM for the classic chain path (`prefer` and `overrides` as in `model_from_args`)."""
    from apps.run_log import attach, replay_model
    from llms import load_llm

    if getattr(args, "replay", None):
        return replay_model(args, chat=False)
    _quiet_transformers()
    return attach(load_llm(args.model, **{**_options(args, prefer), **overrides}), args)


def wants_stream(args: argparse.Namespace) -> bool:
    return not args.json and (args.stream if args.stream is not None else sys.stdout.isatty())


def print_stream(chunks: Iterable[str]) -> str:
    """Print text chunks as they arrive; return the whole text."""
    parts: list[str] = []
    for chunk in chunks:
        parts.append(chunk)
        sys.stdout.write(chunk)
        sys.stdout.flush()
    sys.stdout.write("\n")
    return "".join(parts)


MAX_LINE_CHARS = 100_000  # one chat turn or answer typed or piped in; /dev/zero must not fill memory


def read_line(stream: Any = None, limit: int = MAX_LINE_CHARS) -> str:
    """One line from `stream` (default stdin), "" at end of input; a line longer than `limit` characters is a
    ValueError, found after reading at most `limit` + 2 characters."""
    line = str((stream or sys.stdin).readline(limit + 2))
    if len(line.rstrip("\r\n")) > limit:
        raise ValueError(f"an input line is longer than {limit} characters; is stdin a text file?")
    return line


def print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


def error_line(exc: BaseException, limit: int = 400) -> str:
    """`exc` on one line, secrets masked (`llms.redact`: the key in the environment or in the failing request,
    header values, URL userinfo, ``sk-...`` tokens) before it is cut to 400 characters."""
    from core.text import one_line
    from llms.redact import known_secrets, redact

    return one_line(redact(str(exc), known_secrets(exc)), limit=limit) or type(exc).__name__


def app_main(run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run, and turn any failure into one line on stderr and exit code 1 (130 on Ctrl-C; the traceback, redacted,
    only with --debug)."""
    try:
        return run(args)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if getattr(args, "debug", False):  # the traceback, redacted as the one line is: servers echo keys
            from llms.redact import format_exception

            sys.stderr.write(format_exception(exc))
        print(f"error: {error_line(exc)}", file=sys.stderr)
        return 1


def progress_bar(label: str, total: int, *, completed: int = 0, transient: bool = False) -> Any:
    """A rich progress bar on stderr (one task, not started yet), or None when stderr is not a terminal."""
    if not sys.stderr.isatty():
        return None
    from rich.console import Console
    from rich.progress import Progress

    bar = Progress(console=Console(stderr=True), transient=transient)
    bar.add_task(label, total=total, completed=completed)
    return bar

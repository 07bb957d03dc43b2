"""What every app shares: model options on the command line, streaming output, one-line errors."""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Callable, Iterable
from typing import Any

__all__ = [
    "add_model_arguments",
    "app_main",
    "llm_from_args",
    "model_from_args",
    "print_json",
    "print_stream",
    "progress_bar",
    "run_app",
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
    group.add_argument("--debug", action="store_true", help="show tracebacks on errors")


def _options(args: argparse.Namespace) -> dict[str, Any]:
    names = ("max_new_tokens", "temperature", "seed", "threads", "base_url", "timeout", "max_retries")
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def _quiet_transformers() -> None:
    # Apps print answers; transformers' weight-loading bars and generation warnings are noise there.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:
        pass


def model_from_args(args: argparse.Namespace, **overrides: Any) -> Any:
    """The chat model the user asked for, with `--fallback` applied when given."""
    from llms import load_model

    _quiet_transformers()
    model = load_model(args.model, **{**_options(args), **overrides})
    if getattr(args, "fallback", None) and args.model.startswith("openai:"):
        from llms.fallback import with_fallback

        return with_fallback(model, args.fallback, notify=lambda msg: print(f"note: {msg}", file=sys.stderr))
    return model


def llm_from_args(args: argparse.Namespace, **overrides: Any) -> Any:
    """The text-completion LLM for the classic chain path."""
    from llms import load_llm

    _quiet_transformers()
    return load_llm(args.model, **{**_options(args), **overrides})


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


def print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 400 else text[:397] + "..."


def app_main(run: Callable[[argparse.Namespace], int], parser: argparse.ArgumentParser, argv: list[str] | None) -> int:
    """Parse, run, and turn known errors into one line on stderr (a traceback only with --debug)."""
    args = parser.parse_args(argv)
    try:
        return run(args)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if getattr(args, "debug", False):
            traceback.print_exc()
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 1


def run_app(
    doc: str | None,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    run: Callable[[argparse.Namespace], int],
    argv: list[str] | None,
    prog: str,
) -> int:
    """What every app's `main` does: build its parser from its docstring and options, then `app_main`."""
    parser = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return app_main(run, parser, argv)


def progress_bar(label: str, total: int, *, completed: int = 0, transient: bool = False) -> Any:
    """A rich progress bar on stderr (one task, not started yet), or None when stderr is not a terminal."""
    if not sys.stderr.isatty():
        return None
    from rich.console import Console
    from rich.progress import Progress

    bar = Progress(console=Console(stderr=True), transient=transient)
    bar.add_task(label, total=total, completed=completed)
    return bar

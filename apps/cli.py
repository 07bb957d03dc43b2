"""The `recipes` command: one parser for every command and app, argv parsed once.

    recipes models                       which model specs exist and which run offline now
    recipes setup                        install-time step: convert the embedded model once
    recipes run perfect-day Paris        run an app (see `recipes run --help`)

Exit codes: 0 done; 1 the run failed (bad input file, model or server error, an answer we cannot use);
2 the command line is wrong (unknown command or option, missing or malformed value); 130 interrupted.
Imports stay lazy: building the parser imports only the app modules (stdlib and argparse), never torch,
transformers or LangChain, so `recipes --help` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

__all__ = ["APPS", "COMMANDS", "build_parser", "main"]

# The apps, registered here once: name -> module. Each module has a docstring (first line: what it does),
# add_arguments(parser) and run(args) -> int.
APPS: dict[str, str] = {
    "movie-night": "apps.movie_night",
    "perfect-day": "apps.perfect_day",
    "translate": "apps.translate",
    "chat": "apps.chat",
    "json-qa": "apps.json_qa",
    "self-instruct": "apps.self_instruct",
    "judge": "apps.judge",
    "finetune": "apps.finetune",
    "dpo": "apps.dpo",
}
# Apps that are top-level commands (`recipes serve`), registered the same way.
COMMANDS: dict[str, str] = {
    "serve": "apps.serve",
}

_EPILOG = """Examples:
  recipes run movie-night "I love sci-fi and horror"
  recipes run perfect-day Paris
  recipes run perfect-day 서울 --model hf:EleutherAI/gpt-neo-125m
  recipes prompts list

Exit codes: 0 done, 1 the run failed, 2 bad usage, 130 interrupted."""


def _cmd_models(args: argparse.Namespace) -> int:
    from llms import describe_specs
    from llms.engines.device import available_devices

    for info in describe_specs():
        mark = "offline now" if info.offline_ready else "needs network"
        print(f"{info.spec:<22} {mark:<13} {info.description}\n{'':<36} {info.detail}")
    print(f"devices for local models (--device auto picks the first): {', '.join(available_devices())}")
    return 0


def _cmd_setup(args: argparse.Namespace) -> int:
    import time

    from llms.embedded import embedded_onnx_dir, prepare_embedded
    from llms.engines.onnx_build import OnnxBuildError, build_int4, is_built, source_fingerprint

    def log(msg: str) -> None:
        print(msg, file=sys.stderr)

    path = prepare_embedded(log=log)
    print(f"embedded model ready: {path}")
    # The fast engine's int4 build (onnxruntime-genai); without it `local` runs on the transformers engine.
    started = time.monotonic()
    was_built = is_built(embedded_onnx_dir(), source_fingerprint(path))
    try:
        built = build_int4(path, embedded_onnx_dir(), log=log)
    except OnnxBuildError as exc:
        print(f"note: no int4 build, `local` will use the transformers engine: {exc}", file=sys.stderr)
        return 0
    took = "already built" if was_built else f"built in {time.monotonic() - started:.1f} s"
    print(f"int4 onnxruntime model ready ({took}): {built}")
    return 0


def _summary(module: ModuleType) -> str:
    """The first line of an app module's docstring, without its leading "Name: "."""
    first = (module.__doc__ or "").strip().splitlines()[0] if module.__doc__ else ""
    return first.split(": ", 1)[-1].rstrip(".")


def _add_app(sub: argparse._SubParsersAction, name: str, module_name: str, debug: argparse.ArgumentParser) -> None:
    module = importlib.import_module(module_name)
    parser = sub.add_parser(
        name,
        help=_summary(module),
        description=module.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[debug],
    )
    module.add_arguments(parser)
    parser.set_defaults(func=module.run, app=name)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: top-level commands, `prompts`, `logs`, and `run APP` for each app in `APPS`."""
    parser = argparse.ArgumentParser(
        prog="recipes",
        description="Chain Recipes: reusable LangChain chain recipes on local or OpenAI-compatible models.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    # `--debug` is declared once and accepted after any command too; SUPPRESS keeps a subcommand's absent flag
    # from overwriting one given before the command (argparse copies sub-defaults over the parent's values).
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    models = sub.add_parser("models", help="list model specs and which run offline now", parents=[debug])
    models.set_defaults(func=_cmd_models)
    setup_help = "prepare the embedded model: safetensors and the int4 build (once, ~40 s)"
    sub.add_parser("setup", help=setup_help, parents=[debug]).set_defaults(func=_cmd_setup)
    from apps.cli_logs import add_parser as add_logs_parser  # recipes logs: the run history
    from apps.cli_prompts import add_parser as add_prompts_parser

    add_prompts_parser(sub, parents=[debug])
    add_logs_parser(sub, parents=[debug])
    for name, module_name in COMMANDS.items():
        _add_app(sub, name, module_name, debug)
    run = sub.add_parser(
        "run",
        help="run an app",
        description="Run an app; `recipes run APP --help` shows its options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[debug],
    )
    apps = run.add_subparsers(dest="app", metavar="APP", required=True)
    for name, module_name in APPS.items():
        _add_app(apps, name, module_name, debug)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `recipes` console script: parse once, run, report failures in one line."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from apps.common import app_main

    run = args.func
    if args.command == "run":
        from apps.run_log import logged  # the run history, --record and --replay around the app's run

        run = logged(run, f"recipes run {args.app}")
    return app_main(run, args)


if __name__ == "__main__":
    sys.exit(main())

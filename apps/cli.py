"""The `recipes` command: list models and prompts, set up the embedded model, and run the apps.

    recipes models                       which model specs exist and which run offline now
    recipes setup                        install-time step: convert the embedded model once
    recipes run perfect-day Paris        run an app (see `recipes run --help`)

Imports stay lazy so `recipes --help` never loads torch or transformers.
"""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["APPS", "main"]

# name -> (module, one-line description); each module has add_arguments(parser), run(args) and main(argv).
APPS: dict[str, tuple[str, str]] = {
    "movie-night": ("apps.movie_night", "your favourite genres -> grounded movie recommendations (en/ko)"),
    "perfect-day": ("apps.perfect_day", "describe a perfect day in a city (LCEL or the classic LLMChain)"),
    "translate": ("apps.translate", "English -> French zero-, one- and few-shot side by side"),
    "chat": ("apps.chat", "interactive chat with a system prompt and history"),
    "json-qa": ("apps.json_qa", "answer questions as validated JSON; --input for many"),
    "self-instruct": ("apps.self_instruct", "grow Alpaca-format tasks from seed tasks (ROUGE-L de-dup)"),
    "judge": ("apps.judge", "pairwise preference of two models by a judge model, both orders"),
}


def _cmd_models(args: argparse.Namespace) -> int:
    from llms import describe_specs

    for info in describe_specs():
        mark = "offline now" if info.offline_ready else "needs network"
        print(f"{info.spec:<22} {mark:<13} {info.description}\n{'':<36} {info.detail}")
    from llms.engines.device import available_devices

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


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recipes",
        description="Chain Recipes: reusable LangChain chain recipes on local or OpenAI-compatible models.",
        epilog='Examples:\n  recipes run movie-night "I love sci-fi and horror"\n  recipes run perfect-day Paris\n'
        "  recipes run perfect-day 서울 --model hf:EleutherAI/gpt-neo-125m\n  recipes prompts list",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("models", help="list model specs and which run offline now").set_defaults(func=_cmd_models)
    setup_help = "prepare the embedded model: safetensors and the int4 build (once, ~40 s)"
    sub.add_parser("setup", help=setup_help).set_defaults(func=_cmd_setup)
    try:
        from apps.cli_prompts import add_parser as add_prompts_parser
    except ImportError:  # the prompts CLI is optional while it is being built
        pass
    else:
        add_prompts_parser(sub)
    from apps.cli_logs import add_parser as add_logs_parser  # recipes logs: the run history

    add_logs_parser(sub)
    run = sub.add_parser(
        "run",
        help="run an app",
        description="Run an app; `recipes run APP --help` shows its options.\n\napps:\n"
        + "\n".join(f"  {name:<14} {desc}" for name, (_, desc) in APPS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("app", choices=sorted(APPS), metavar="APP", help="one of: " + ", ".join(sorted(APPS)))
    run.add_argument("app_args", nargs=argparse.REMAINDER, help="the app's own arguments")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `recipes` console script."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "run":
        module = importlib.import_module(APPS[args.app][0])
        return int(module.main(args.app_args, prog=f"recipes run {args.app}"))
    from apps.common import app_main

    return app_main(args.func, parser, argv)


if __name__ == "__main__":
    sys.exit(main())

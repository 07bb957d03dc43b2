"""JSON QA: answer questions as validated JSON ({"answer": ...}); one question, or a file of them.

Run:  recipes run json-qa "What is 2+2?"
      recipes run json-qa --input questions.txt --output answers.jsonl    (results written as they finish)
      recipes run json-qa --input questions.txt --output answers.jsonl --resume   (only what is not done yet)
      recipes run json-qa --input questions.txt --output answers.jsonl --executor ray --workers 4   (docs/scale.md)

Input files are capped at 64 MiB (set RECIPES_MAX_INPUT_BYTES to raise the cap).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any

from apps.common import add_model_arguments, model_from_args, print_json
from apps.scale import add_executor_arguments, check_executor, recipe_options, run_on_ray, uses_ray

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("question", nargs="*", help="the question (or use --input)")
    parser.add_argument("--input", help="a file of questions: one per line (.txt) or JSON lines (.jsonl)")
    parser.add_argument("--output", help="where --input results go as JSON lines (default: stdout)")
    parser.add_argument(
        "--resume", action="store_true", help="with --output: skip questions already answered there and append"
    )
    parser.add_argument("--concurrency", type=int, default=2, help="questions in flight at once with --input")
    parser.add_argument("--lang", choices=["en", "ko"], help="prompt language (default: the question's)")
    add_model_arguments(parser)
    add_executor_arguments(parser)


def _as_question(value: Any) -> dict[str, Any]:
    """A .txt line is a bare question; a .jsonl line may already be {"question": ...}; an empty one is an error."""
    item = {"question": value} if isinstance(value, str) else value
    if not isinstance(item, dict) or not isinstance(item.get("question"), str):
        raise ValueError('expected a question: text, or an object with a "question" string')
    if not item["question"].strip():
        raise ValueError("empty question")
    return item


def _chain(args: argparse.Namespace) -> Any:
    """An input line (text or object) -> the validated answer, on the model the options name."""
    from langchain_core.runnables import RunnableLambda

    from chains.answers import json_qa

    as_dict: RunnableLambda[Any, dict[str, Any]] = RunnableLambda(_as_question)
    return as_dict | json_qa(model_from_args(args), lang=args.lang or "en")


@dataclass(frozen=True)
class _Recipe:
    """The chain as each Ray worker builds it: the model loaded there from the command line's plain options (a
    spec string and values travel, never a loaded model)."""

    options: dict[str, Any]

    def __call__(self) -> Any:
        return _chain(argparse.Namespace(**self.options))


def run(args: argparse.Namespace) -> int:
    from chains.answers import json_qa
    from chains.language import detect_language

    if args.input and args.question:
        raise ValueError("give a question or --input FILE, not both")
    if args.resume and not (args.input and args.output):
        raise ValueError("--resume needs --input and --output (the file to continue)")
    if args.concurrency < 1:
        raise ValueError(f"--concurrency must be >= 1, got {args.concurrency}")
    check_executor(args)
    question = " ".join(args.question).strip()
    if not args.input and not question:
        raise ValueError("no question given (pass one, or --input FILE)")
    if args.input:
        from apps.runner import InputFileError, read_inputs, run_many

        questions = read_inputs(args.input)  # before loading the model: a bad file fails in a moment
        if not questions:
            raise InputFileError(f"{args.input} holds no questions (one per line, or JSON lines)")
        out = args.output or sys.stdout
        if uses_ray(args):
            summary = run_on_ray(args, _Recipe(recipe_options(args)), questions, out, batch_size=args.concurrency,
                                 resume=args.resume)
        else:
            summary = run_many(_chain(args), questions, out, max_concurrency=args.concurrency,
                               progress=sys.stderr.isatty(), resume=args.resume)
        print(summary.line(), file=sys.stderr)
        return summary.exit_code
    model = model_from_args(args)
    answer = json_qa(model, lang=args.lang or detect_language(question)).invoke({"question": question})
    print_json({"question": question, **answer.model_dump()} if args.json else answer.model_dump())
    return 0


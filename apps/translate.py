"""Translate English -> French zero-, one- and few-shot side by side (the GPT-3 paper's example), as a table.

Run:  recipes run translate cheese            (or: recipes run translate "sea otter" --mode few)
"""

from __future__ import annotations

import argparse

from apps.common import add_model_arguments, model_from_args, print_json, print_stream, wants_stream

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("word", nargs="+", help="the English word or phrase to translate")
    parser.add_argument(
        "--mode",
        choices=["zero", "one", "few", "all"],
        default="all",
        help="which prompt: zero-, one-, few-shot, or all three side by side (default)",
    )
    parser.add_argument("--lang", choices=["en", "ko"], default="en", help="language of the instructions")
    add_model_arguments(parser)


def _table(word: str, answers: dict[str, str]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{word!r} in French")
    table.add_column("mode")
    table.add_column("examples shown", justify="right")
    table.add_column("answer")
    for mode, shots in (("zero", "0"), ("one", "1"), ("few", "3")):
        table.add_row(f"{mode}-shot", shots, answers[mode] or "(empty)")
    Console(soft_wrap=True).print(table)


def run(args: argparse.Namespace) -> int:
    from chains.translation import translate, translate_all

    word = " ".join(args.word).strip()
    if not word:
        raise ValueError("no word given: say what to translate")
    model = model_from_args(args, max_new_tokens=16 if args.max_new_tokens is None else args.max_new_tokens)
    if args.mode == "all":
        answers = translate_all(model, lang=args.lang).invoke({"word": word})
        if args.json:
            print_json({"word": word, **answers})
        else:
            _table(word, answers)
        return 0
    chain = translate(model, mode=args.mode, lang=args.lang)
    if wants_stream(args):
        print_stream(chain.stream({"word": word}))
        return 0
    answer = chain.invoke({"word": word})
    if args.json:
        print_json({"word": word, args.mode: answer})
    else:
        print(answer)
    return 0


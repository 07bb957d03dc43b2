"""`recipes prompts list` and `recipes prompts show NAME`: browse the prompt templates.

>>> from apps.cli import main
>>> main(["prompts", "show", "json_answer", "--var", "question=2+2?"])  # doctest: +ELLIPSIS
name: json_answer
...
0
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prompts import PromptLibrary

# langchain-core and the prompt library load only when a prompts command runs: `recipes --help` stays fast.

__all__ = ["add_parser", "run_list", "run_show"]


def _library(args: argparse.Namespace) -> PromptLibrary:
    import prompts

    return prompts.load_dir(args.dir) if args.dir is not None else prompts.builtin()


def _values(pairs: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            from prompts import TemplateVariableError

            raise TemplateVariableError(f"--var expects NAME=VALUE, got {pair!r}")
        values[key] = value
    return values


def run_list(args: argparse.Namespace) -> int:
    """Print one line per prompt: name, languages, kind, description."""
    lib = _library(args)
    rows = []
    for name in lib.names(args.lang):
        langs = lib.languages(name)
        shown = lib.info(name, args.lang or ("en" if "en" in langs else langs[0]))
        rows.append((name, ",".join(langs), shown.kind, shown.description))
    if not rows:
        print("no prompts found", file=sys.stderr)
        return 1
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)) + "  " + row[3])
    return 0


def run_show(args: argparse.Namespace) -> int:
    """Print a prompt's metadata and template; with `--var` values, print it rendered."""
    lib = _library(args)
    meta = lib.info(args.name, args.lang)
    text = meta.template
    if args.var:  # render first, so a bad value fails before anything is printed
        template = lib.get(args.name, args.lang)
        values: dict[str, Any] = _values(args.var)
        from langchain_core.prompts import BaseChatPromptTemplate

        if isinstance(template, BaseChatPromptTemplate):
            text = "\n".join(f"{m.type}: {m.content}" for m in template.format_messages(**values))
        else:
            text = template.format(**values)
    print(f"name: {meta.name}\nlanguage: {meta.language}\nkind: {meta.kind}")
    print(f"variables: {', '.join(meta.variables) or '(none)'}\ndescription: {meta.description}")
    print(f"source: {meta.source}\n---\n{text}")
    return 0


def add_parser(subparsers: Any, parents: list[argparse.ArgumentParser] = ()) -> None:  # type: ignore[assignment]
    """Register `prompts list` / `prompts show NAME` on the CLI's subparsers; handlers are `args.func`."""
    parents = list(parents)
    parser = subparsers.add_parser("prompts", help="list and show prompt templates", parents=parents)
    actions = parser.add_subparsers(dest="prompts_command", required=True, metavar="{list,show}")
    dir_help = "load prompts from this directory (*.toml) instead of the built-in set"
    listing = actions.add_parser("list", help="list prompt names, languages and kinds", parents=parents)
    listing.add_argument("--lang", default=None, help="only prompts available in this language (en, ko)")
    listing.add_argument("--dir", type=Path, default=None, help=dir_help)
    listing.set_defaults(func=run_list)
    show = actions.add_parser("show", help="show one prompt's metadata and template", parents=parents)
    show.add_argument("name", help="prompt name, e.g. json_answer")
    show.add_argument("--lang", default="en", help="language version to show (default: en)")
    show.add_argument("--dir", type=Path, default=None, help=dir_help)
    show.add_argument(
        "--var", action="append", default=[], metavar="NAME=VALUE", help="render with this value (repeatable)"
    )
    show.set_defaults(func=run_show)


"""Self-instruct: grow a set of Alpaca tasks (instruction / input / output) from a few seed tasks with any model.

Run:  recipes run self-instruct --n 10 --out tasks.json                 (embedded model, shipped English seeds)
      recipes run self-instruct --lang ko --n 20 --out ko.json --resume  (Korean seeds; continue an earlier run)
      recipes run self-instruct --seed-file my_seeds.json --model hf:EleutherAI/gpt-neo-125m

Each kept task is appended to <out>.partial.jsonl as it is made; <out> (a JSON list) is written at the end,
also after Ctrl-C or an error, so nothing kept is lost; a run that kept no task writes no file (an empty list
would only block the next run). A task is kept only if its instruction's ROUGE-L F1 to
every kept instruction (seeds included) is below 0.7 and it is non-empty and not cut at a length limit.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from apps.common import add_model_arguments, model_from_args, print_json, progress_bar
from llms.errors import RecipesError

__all__ = ["OutputExistsError", "add_arguments", "run"]


class OutputExistsError(RecipesError, FileExistsError):
    """The output (or its .partial.jsonl journal) exists and neither --resume nor --force was given."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n", type=int, default=10, help="how many new tasks to make (default 10)")
    parser.add_argument("--out", default="tasks.json", help="Alpaca JSON list to write (default tasks.json)")
    parser.add_argument("--seed-file", help="seed tasks: a JSON list (or .jsonl) of {instruction, input, output}")
    parser.add_argument("--lang", choices=["en", "ko"], help="prompt language; picks the shipped seeds (default en)")
    parser.add_argument("--max-calls", type=int, help="give up after this many prompts (default 3 x --n)")
    parser.add_argument("--max-concurrency", type=int, default=4,
                        help="prompts at once; on local models one batched generate (default 4)")
    parser.add_argument("--num-examples", type=int, default=3, help="seed tasks shown per prompt (default 3)")
    again = parser.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="keep the tasks already in --out and add to them")
    again.add_argument("--force", action="store_true", help="overwrite an existing --out")
    add_model_arguments(parser)


def _journal_path(out: Path) -> Path:
    return out.with_name(out.name + ".partial.jsonl")


def _earlier_tasks(out: Path, journal: Path, resume: bool, force: bool) -> list[Any]:
    from chains.self_instruct import load_tasks

    found = [p for p in (out, journal) if p.exists()]
    if not found:
        return []
    if force:
        return []
    if not resume:
        raise OutputExistsError(f"{found[0]} exists: pass --resume to add to it or --force to overwrite it")
    tasks = [t for p in found for t in load_tasks(p)]
    return list(dict.fromkeys(tasks))  # the journal repeats what a finished run also wrote to <out>


def _write_json(out: Path, tasks: list[Any]) -> None:
    # Write then rename: a crash mid-write never leaves a half JSON list in place of a good one.
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps([t.model_dump() for t in tasks], ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, out)


def _rejected_text(rejected: dict[str, int]) -> str:
    return ", ".join(f"{count} {reason}" for reason, count in rejected.items())


def run(args: argparse.Namespace) -> int:
    from chains.self_instruct import SelfInstruct, load_seed_tasks

    if args.n < 1 or (args.max_calls is not None and args.max_calls < 1) or args.max_concurrency < 1:
        raise ValueError("--n, --max-calls and --max-concurrency must be >= 1")
    out = Path(args.out)
    journal_path = _journal_path(out)
    lang = args.lang or (None if args.seed_file else "en")
    seeds = load_seed_tasks(args.seed_file, lang=None if args.seed_file else lang)
    earlier = _earlier_tasks(out, journal_path, args.resume, args.force)
    model = model_from_args(args)
    budget = {"max_new_tokens": args.max_new_tokens} if args.max_new_tokens is not None else {}
    recipe = SelfInstruct(
        model, seeds, lang=lang, existing=earlier, num_examples=args.num_examples,
        temperature=0.8 if args.temperature is None else args.temperature, seed=args.seed or 0,
        max_concurrency=args.max_concurrency, **budget,
    )
    started = time.monotonic()
    bar = progress_bar("self-instruct", args.n, completed=len(earlier))
    journal: TextIO | None = None
    status = "done"
    try:
        def keep(task: Any) -> None:
            nonlocal journal
            if journal is None:  # opened with the first kept task: a run that keeps none leaves no file
                if args.resume and journal_path.exists():
                    from apps.runner import drop_torn_line

                    drop_torn_line(journal_path)  # a line cut by a kill would swallow the next task
                journal = journal_path.open("a" if args.resume else "w", encoding="utf-8")
            journal.write(json.dumps(task.model_dump(), ensure_ascii=False) + "\n")
            journal.flush()

        def show(state: SelfInstruct) -> None:
            if bar is not None:
                bar.update(bar.task_ids[0], completed=len(state.tasks),
                           description=f"{len(state.kept)} kept, {sum(state.rejected.values())} rejected")

        if bar is not None:
            bar.start()
        recipe.run(args.n, args.max_calls, on_kept=keep, on_round=show)
    except KeyboardInterrupt:
        status = "interrupted"
    except BaseException:
        status = "error"
        raise
    finally:
        if bar is not None:
            bar.stop()
        if journal is not None:
            journal.close()
        written = bool(recipe.tasks)
        if written:
            _write_json(out, recipe.tasks)
        journal_path.unlink(missing_ok=True)  # everything in it is now in <out> (a failed run kept nothing)
        if status != "done":
            saved = (f"wrote the {len(recipe.tasks)} tasks kept so far to {out} (add --resume to continue)"
                     if written else f"no task kept, so nothing written to {out}")
            print(f"{status} after {recipe.calls} prompts: {saved}", file=sys.stderr)
    summary = {
        "out": str(out), "written": written, "tasks": len(recipe.tasks), "new": len(recipe.kept),
        "resumed": len(earlier),
        "calls": recipe.calls, "rejected": dict(recipe.rejected), "unused": recipe.unused,
        "seconds": round(time.monotonic() - started, 1), "interrupted": status == "interrupted",
    }
    if args.json:
        print_json(summary)
    elif status == "done" and written:
        print(f"wrote {len(recipe.tasks)} tasks to {out} ({len(recipe.kept)} new in {recipe.calls} prompts; "
              f"rejected: {_rejected_text(recipe.rejected)})")
    elif status == "done":
        print(f"no task kept in {recipe.calls} prompts (rejected: {_rejected_text(recipe.rejected)}); "
              f"nothing written to {out}")
    if status == "interrupted":
        return 130
    if len(recipe.tasks) < args.n:
        print(f"note: stopped at --max-calls with {len(recipe.tasks)} of {args.n} tasks; raise --max-calls "
              "or use a stronger model", file=sys.stderr)
    return 0


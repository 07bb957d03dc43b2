"""Self-instruct: grow a set of Alpaca tasks (instruction / input / output) from a few seed tasks with any model.

Run:  recipes run self-instruct --n 10 --out tasks.json                 (embedded model, shipped English seeds)
      recipes run self-instruct --lang ko --n 20 --out ko.json --resume  (Korean seeds; continue an earlier run)
      recipes run self-instruct --seed-file my_seeds.json --model hf:EleutherAI/gpt-neo-125m
      recipes run self-instruct --n 1000 --model openai:my-model --executor ray --workers 8   (docs/scale.md)

Each kept task is appended to <out>.partial.jsonl as it is made; <out> (a JSON list) is written at the end,
also after Ctrl-C or an error, so nothing kept is lost; a run that kept no task writes no file (an empty list
would only block the next run). A task is kept only if it is complete (not empty, not cut at a length limit), its
instruction starts with a letter, asks for something (not a statement, not too short), names no task a text model
cannot do (image, audio, file, map, ...), its output does not copy its input, and its instruction's ROUGE-L F1 to
every kept instruction (seeds included) is below 0.7; each rejection is counted by reason (chains/task_filters.py).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from apps.common import add_model_arguments, model_from_args, print_json
from apps.scale import add_executor_arguments, check_executor, recipe_options, results, uses_ray
from core.errors import RecipesError

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
    add_executor_arguments(parser)


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


@dataclass(frozen=True)
class _Writer:
    """The task writer as each Ray worker builds it (its model loaded there from the plain options): a batch of
    ``{"examples", "seed"}`` prompts -> a `NewTask` (or the error) each, one batched generate on local models."""

    options: dict[str, Any]
    lang: str

    def __call__(self) -> Any:
        from chains.self_instruct import AlpacaTask, task_writer

        o = self.options
        model = model_from_args(argparse.Namespace(**o))
        budget = {"max_new_tokens": o["max_new_tokens"]} if o["max_new_tokens"] is not None else {}
        temperature = 0.8 if o["temperature"] is None else o["temperature"]

        def write(prompts: list[dict[str, Any]]) -> list[Any]:
            bound = model.bind(temperature=temperature, seed=prompts[0]["seed"])  # a seed per batch, as per round
            writer = task_writer(bound, lang=self.lang, **budget)
            asks = [{"examples": [AlpacaTask(**t) for t in p["examples"]]} for p in prompts]
            return list(writer.batch(asks, {"max_concurrency": o["max_concurrency"]}, return_exceptions=True))

        return write


def _farmed(base: type, args: argparse.Namespace) -> type:
    """`SelfInstruct` whose prompts Ray workers answer: the whole budget of prompts is one Dataset, and each round
    takes the next answers as they finish (the kept-or-rejected rules still run here, in order)."""

    class Farmed(base):  # type: ignore[misc, valid-type]
        def _round(self, size: int) -> list[Any]:
            if not hasattr(self, "_answers"):
                budget = args.max_calls or 3 * args.n
                prompts = [{"examples": [t.model_dump() for t in self.draw_examples()],
                            "seed": self.stream_seed + i - i % args.max_concurrency} for i in range(budget)]
                self._answers = results(args, _Writer(recipe_options(args), self.lang), prompts,
                                        batch_size=args.max_concurrency)
            self.calls += size
            return [answer for _, answer in itertools.islice(self._answers, size)]

        def close(self) -> None:
            if hasattr(self, "_answers"):
                self._answers.close()  # stops the workers (and a Ray started for the run)

    return Farmed


def run(args: argparse.Namespace) -> int:
    from apps.journal import Journal
    from chains.self_instruct import SelfInstruct, load_seed_tasks

    if args.n < 1 or (args.max_calls is not None and args.max_calls < 1) or args.max_concurrency < 1:
        raise ValueError("--n, --max-calls and --max-concurrency must be >= 1")
    check_executor(args)
    out = Path(args.out)
    journal_path = _journal_path(out)
    lang = args.lang or (None if args.seed_file else "en")
    seeds = load_seed_tasks(args.seed_file, lang=None if args.seed_file else lang)
    earlier = _earlier_tasks(out, journal_path, args.resume, args.force)
    kind = _farmed(SelfInstruct, args) if uses_ray(args) else SelfInstruct
    model = cast(Any, None) if uses_ray(args) else model_from_args(args)  # Ray workers load their own
    budget = {"max_new_tokens": args.max_new_tokens} if args.max_new_tokens is not None else {}
    recipe = kind(
        model, seeds, lang=lang, existing=earlier, num_examples=args.num_examples,
        temperature=0.8 if args.temperature is None else args.temperature, seed=args.seed or 0,
        max_concurrency=args.max_concurrency, **budget,
    )
    started = time.monotonic()
    journal = Journal(journal_path, resume=args.resume, label="self-instruct", total=args.n,
                      completed=len(earlier))
    status = "done"
    try:
        def keep(task: Any) -> None:  # the journal's file is opened with the first kept task: none, no file
            journal.write(task.model_dump())

        def show(state: SelfInstruct) -> None:
            journal.show(completed=len(state.tasks),
                         description=f"{len(state.kept)} kept, {sum(state.rejected.values())} rejected")

        with journal:
            recipe.run(args.n, args.max_calls, on_kept=keep, on_round=show)
    except KeyboardInterrupt:
        status = "interrupted"
    except BaseException:
        status = "error"
        raise
    finally:
        if hasattr(recipe, "close"):
            recipe.close()
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


"""Judge: which of two models answers instructions better? Pairwise preference, both orders, as a table.

Run:  recipes run judge --a local --b hf:EleutherAI/gpt-neo-125m                (5 shipped instructions)
      recipes run judge --instructions tasks.json --a-answers a.json --b-answers b.json --judge openai:gpt-4o-mini
      recipes run judge --a local --b hf:./my-model --out results.jsonl --plot wins.png --json
      recipes run judge --instructions tasks.json --a openai:a --b openai:b --out r.jsonl --executor ray --workers 8

Each pair is judged twice (A shown first, then B shown first); A wins only if both verdicts say A, B only if
both say B, anything else is a tie. Win rate = (wins + ties/2) / n. With --out, each instruction's record is
written as soon as it is judged, so Ctrl-C keeps what is done and the table covers it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apps.common import add_model_arguments, model_from_args, print_json
from apps.scale import add_executor_arguments, check_executor, recipe_options, results, uses_ray
from core.errors import RecipesError

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

__all__ = ["JudgeInputError", "PlotUnavailableError", "add_arguments", "run", "save_plot", "tally_figure"]


class JudgeInputError(RecipesError, ValueError):
    """Instructions or answer files that cannot be paired up (the message names the file and line)."""


class PlotUnavailableError(RecipesError, ImportError):
    """--plot needs matplotlib, which is not installed."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--instructions", help="a .txt (one per line), .jsonl or .json of instructions or tasks")
    parser.add_argument("--limit", type=int, help="judge only the first N instructions (default: 5 shipped ones)")
    parser.add_argument("--lang", choices=["en", "ko"], help="prompt language (default: each instruction's own)")
    parser.add_argument("--a", metavar="SPEC", help="model A's spec (or --a-answers)")
    parser.add_argument("--b", metavar="SPEC", help="model B's spec (or --b-answers)")
    parser.add_argument("--a-answers", metavar="FILE", help="A's answers: .txt lines, or .json/.jsonl with output")
    parser.add_argument("--b-answers", metavar="FILE", help="B's answers, in the same order as the instructions")
    parser.add_argument("--judge", metavar="SPEC", help="the judge model (default: --model)")
    parser.add_argument("--max-concurrency", type=int, default=4,
                        help="instructions at once; on local models one batched generate each (default 4)")
    parser.add_argument("--out", help="write one JSON line per judged instruction as it finishes")
    parser.add_argument("--plot", metavar="PNG", help="also save a bar chart of wins / ties / losses")
    parser.add_argument("--prefs", metavar="JSONL",
                        help="also write the verdicts as preference pairs (prompt, chosen, rejected; ties skipped)")
    add_model_arguments(parser)
    add_executor_arguments(parser)


# -- inputs -------------------------------------------------------------------------------------------------------
def _rows(path: Path) -> list[Any]:
    from apps.runner import read_inputs

    if path.suffix.lower() != ".json":
        return read_inputs(path)
    from chains.files import read_text_bounded

    try:
        rows = json.loads(read_text_bounded(path))  # capped: RECIPES_MAX_INPUT_BYTES
    except FileNotFoundError:
        raise JudgeInputError(f"file not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise JudgeInputError(f"{path}: not valid UTF-8 JSON ({err})") from None
    except RecursionError:
        raise JudgeInputError(f"{path}: JSON nested too deeply") from None
    except OSError as err:
        raise JudgeInputError(f"cannot read {path}: {err.strerror}") from None
    if not isinstance(rows, list):
        raise JudgeInputError(f"{path}: expected a JSON list")
    return rows


def _field(row: Any, keys: tuple[str, ...], where: str) -> str:
    if isinstance(row, str):
        return row
    if isinstance(row, dict):
        for key in keys:
            if isinstance(row.get(key), str):
                return str(row[key])
    raise JudgeInputError(f"{where}: expected text or an object with {' or '.join(keys)}")


def read_items(path: str | Path) -> list[dict[str, str]]:
    """Instructions as ``{"instruction", "input"}``: text lines, JSON strings, or Alpaca task objects."""
    rows = _rows(Path(path))
    items = []
    for i, row in enumerate(rows, 1):
        extra = row.get("input", "") if isinstance(row, dict) else ""
        items.append({"instruction": _field(row, ("instruction",), f"{path} item {i}"), "input": str(extra or "")})
    return items


def read_answers(path: str | Path) -> list[dict[str, str]]:
    """Answers as ``{"output", "instruction"?}``: text lines, JSON strings, or objects with output / answer."""
    out = []
    for i, row in enumerate(_rows(Path(path)), 1):
        answer = {"output": _field(row, ("output", "answer"), f"{path} item {i}")}
        if isinstance(row, dict) and isinstance(row.get("instruction"), str):
            answer["instruction"] = row["instruction"]
        out.append(answer)
    return out


def _items(args: argparse.Namespace, answers: dict[str, list[dict[str, str]]]) -> list[dict[str, str]]:
    if args.instructions:
        items = read_items(args.instructions)
    elif any(rows and "instruction" in rows[0] for rows in answers.values()):
        rows = next(r for r in answers.values() if r and "instruction" in r[0])
        items = [{"instruction": r.get("instruction", ""), "input": ""} for r in rows]
    else:
        from chains.self_instruct import load_seed_tasks

        seeds = load_seed_tasks(lang=args.lang or "en")
        items = [{"instruction": t.instruction, "input": t.input} for t in seeds][: args.limit or 5]
    items = items[: args.limit] if args.limit else items
    for side, rows in answers.items():
        if len(rows) < len(items):
            raise JudgeInputError(f"--{side}-answers has {len(rows)} answers for {len(items)} instructions")
        for i, (item, row) in enumerate(zip(items, rows, strict=False), 1):
            if row.get("instruction", item["instruction"]).strip() != item["instruction"].strip():
                raise JudgeInputError(f"--{side}-answers item {i} answers another instruction than item {i}")
    if not items:
        raise JudgeInputError("no instructions to judge")
    return items


# -- the report ---------------------------------------------------------------------------------------------------
def _short(label: str, width: int = 28) -> str:
    return label if len(label) <= width else "…" + label[-(width - 1) :]  # a long path: its end names it


def tally_figure(tally: Any, label_a: str, label_b: str) -> Any:
    """A matplotlib Figure: bars for A wins / ties / B wins, each labelled with its count."""
    try:
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        raise PlotUnavailableError("--plot needs matplotlib: pip install 'chain-recipes[plot]'") from None
    fig = Figure(figsize=(6, 3.6), dpi=100)  # a bare Figure renders with Agg: no pyplot, no GUI backend
    ax = fig.add_subplot()
    # Numeric positions: category names would merge two bars when A and B are the same spec.
    bars = ax.bar([0, 1, 2], [tally.wins, tally.ties, tally.losses], color=["#4c72b0", "#a0a0a0", "#dd8452"])
    ax.set_xticks([0, 1, 2], [f"A wins\n{_short(label_a)}", "ties", f"B wins\n{_short(label_b)}"])
    ax.bar_label(bars, padding=2)
    ax.set_ylabel("instructions")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, max(1, tally.wins, tally.ties, tally.losses) * 1.2)
    ax.set_title(f"A vs B over {tally.n} instructions: A win rate {tally.win_rate:.1%}")
    fig.tight_layout()
    return fig


def save_plot(tally: Any, path: str | Path, label_a: str, label_b: str) -> Path:
    """Write the bar chart as a PNG."""
    tally_figure(tally, label_a, label_b).savefig(path, format="png")
    return Path(path)


def _print_table(tally: Any, label_a: str, label_b: str, judge: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{tally.n} instructions, judged by {judge} in both orders")
    for name in ("model", "wins", "ties", "losses", "win rate"):
        table.add_column(name, justify="left" if name == "model" else "right")
    table.add_row(f"A: {label_a}", str(tally.wins), str(tally.ties), str(tally.losses), f"{tally.win_rate:.1%}")
    table.add_row(f"B: {label_b}", str(tally.losses), str(tally.ties), str(tally.wins),
                  f"{1 - tally.win_rate if tally.n else 0.5:.1%}")
    # Off a terminal rich assumes 80 columns and wraps long model specs; a file or pipe has room for more.
    Console(file=sys.stdout, width=None if sys.stdout.isatty() else 160).print(table)
    print(f"A : B = {tally.wins} : {tally.losses} ({tally.ties} ties); the judge chose the answer shown first "
          f"in {tally.first_position} of {tally.verdicts} verdicts")


# -- the run ------------------------------------------------------------------------------------------------------
def _side(args: argparse.Namespace, side: str) -> tuple[str, list[dict[str, str]] | None]:
    spec, path = getattr(args, side), getattr(args, f"{side}_answers")
    if bool(spec) == bool(path):
        raise JudgeInputError(f"give exactly one of --{side} SPEC or --{side}-answers FILE")
    return (f"file:{Path(path).name}", read_answers(path)) if path else (spec, None)


@dataclass(frozen=True)
class _Recipe:
    """Judging a chunk of instructions, as each worker builds it: A's, B's and the judge's models loaded there
    from the command line's options (spec strings travel, never a loaded model); answers from files come filled in.
    """

    options: dict[str, Any]

    def _model(self, spec: str) -> Any:
        return model_from_args(argparse.Namespace(**{**self.options, "model": spec}))

    def __call__(self) -> Callable[[list[dict[str, Any]]], list[dict[str, Any]]]:
        from chains.judge import ANSWER_TOKENS, answer_chain, judge_pairs

        o = self.options
        tokens = ANSWER_TOKENS if o["max_new_tokens"] is None else o["max_new_tokens"]
        ask = {s: answer_chain(self._model(o[s]), lang=o["lang"], max_new_tokens=tokens) for s in "ab" if o[s]}
        judge = self._model(o["judge"] or o["model"])
        config: RunnableConfig = {"max_concurrency": o["max_concurrency"]}

        def judge_chunk(chunk: list[dict[str, Any]]) -> list[dict[str, Any]]:
            pairs = [dict(item) for item in chunk]
            for side, chain in ask.items():  # one batched generate per model and chunk on local models
                asked = [{"instruction": p["instruction"], "input": p["input"]} for p in pairs]
                for pair, answer in zip(pairs, chain.batch(asked, config), strict=True):
                    pair[f"answer_{side}"] = answer
            verdicts = judge_pairs(judge, pairs, lang=o["lang"], max_concurrency=o["max_concurrency"])
            return [{**pair, **verdict.to_dict()} for pair, verdict in zip(pairs, verdicts, strict=True)]

        return judge_chunk


def _judgement(record: dict[str, Any]) -> Any:
    """A record's `Judgement` again (the tally counts the verdicts), wherever it was judged."""
    from chains.judge import Judgement, Verdict

    first, second = (Verdict(**record[k]) if record.get(k) else None for k in ("a_first", "b_first"))
    return Judgement(record["winner"], first, second, tuple(record.get("errors", ())))


def run(args: argparse.Namespace) -> int:
    from apps.journal import Journal
    from chains.judge import Tally

    if args.max_concurrency < 1 or (args.limit is not None and args.limit < 1):
        raise ValueError("--max-concurrency and --limit must be >= 1")
    check_executor(args)
    label_a, file_a = _side(args, "a")
    label_b, file_b = _side(args, "b")
    files = {k: v for k, v in (("a", file_a), ("b", file_b)) if v is not None}
    items: list[dict[str, Any]] = [
        {**item, "answer_a": None, "answer_b": None, **{f"answer_{s}": rows[i]["output"] for s, rows in files.items()}}
        for i, item in enumerate(_items(args, files))
    ]
    judge_spec = args.judge or args.model
    # Creates nothing yet; an unwritable --out fails here, before any model loads.
    journal = Journal(args.out or None, label="judging", total=len(items), transient=True)
    recipe = _Recipe(recipe_options(args)) if uses_ray(args) else _Recipe(vars(args))
    records: list[dict[str, Any]] = []
    interrupted = False
    with journal:
        try:
            for index, outcome in results(args, recipe, items, batch_size=args.max_concurrency):
                if isinstance(outcome, BaseException):
                    raise outcome  # a model failed: the records so far are kept, the run fails
                records.append({"index": index, **outcome})
                journal.write(records[-1])
        except KeyboardInterrupt:
            interrupted = True
            print(f"interrupted: {len(records)} of {len(items)} instructions judged", file=sys.stderr)
    records.sort(key=lambda r: r["index"])  # Ray returns chunks as they finish
    judged = [_judgement(r) for r in records]
    tally = Tally.of([j.winner for j in judged], judged)
    if args.prefs:  # InstructGPT's comparison data, for `recipes run dpo`
        from chains.preferences import write_preferences

        pairs = write_preferences(args.prefs, records, args.lang)
        print(f"wrote {pairs} preference pairs to {args.prefs} (ties skipped)", file=sys.stderr)
    if args.plot:
        save_plot(tally, args.plot, label_a, label_b)
    if args.json:
        print_json({"a": label_a, "b": label_b, "judge": judge_spec, **tally.to_dict(), "interrupted": interrupted,
                    "results": records})
    else:
        _print_table(tally, label_a, label_b, judge_spec)
        if args.plot:
            print(f"chart: {args.plot}")
    return 130 if interrupted else 0

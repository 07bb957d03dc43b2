"""Judge: which of two models answers instructions better? Pairwise preference, both orders, as a table.

Run:  recipes run judge --a local --b hf:EleutherAI/gpt-neo-125m                (5 shipped instructions)
      recipes run judge --instructions tasks.json --a-answers a.json --b-answers b.json --judge openai:gpt-4o-mini
      recipes run judge --a local --b hf:./my-model --out results.jsonl --plot wins.png --json

Each pair is judged twice (A shown first, then B shown first); A wins only if both verdicts say A, B only if
both say B, anything else is a tie. Win rate = (wins + ties/2) / n. With --out, each instruction's record is
written as soon as it is judged, so Ctrl-C keeps what is done and the table covers it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from apps.common import add_model_arguments, model_from_args, print_json, progress_bar
from llms.errors import RecipesError

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
    add_model_arguments(parser)


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
def _side(args: argparse.Namespace, side: str) -> tuple[str, Any, list[dict[str, str]] | None]:
    spec, path = getattr(args, side), getattr(args, f"{side}_answers")
    if bool(spec) == bool(path):
        raise JudgeInputError(f"give exactly one of --{side} SPEC or --{side}-answers FILE")
    if path:
        return f"file:{Path(path).name}", None, read_answers(path)
    return spec, model_from_args(argparse.Namespace(**{**vars(args), "model": spec})), None


def run(args: argparse.Namespace) -> int:
    from chains.judge import ANSWER_TOKENS, Tally, answer_chain, judge_pairs

    if args.max_concurrency < 1 or (args.limit is not None and args.limit < 1):
        raise ValueError("--max-concurrency and --limit must be >= 1")
    sink = _open_out(args.out)  # creates nothing yet; an unwritable path fails before any model loads
    label_a, model_a, file_a = _side(args, "a")
    label_b, model_b, file_b = _side(args, "b")
    items = _items(args, {k: v for k, v in (("a", file_a), ("b", file_b)) if v is not None})
    judge_spec = args.judge or args.model
    judge = model_from_args(argparse.Namespace(**{**vars(args), "model": judge_spec}))
    tokens = ANSWER_TOKENS if args.max_new_tokens is None else args.max_new_tokens
    ask = {s: answer_chain(m, lang=args.lang, max_new_tokens=tokens) for s, m in (("a", model_a), ("b", model_b)) if m}
    config: RunnableConfig = {"max_concurrency": args.max_concurrency}
    records: list[dict[str, Any]] = []
    judged: list[Any] = []
    bar = progress_bar("judging", len(items), transient=True)
    if bar is not None:
        bar.start()
    interrupted = False
    try:
        for start in range(0, len(items), args.max_concurrency):
            chunk = items[start : start + args.max_concurrency]
            answers = {}
            for side, rows in (("a", file_a), ("b", file_b)):
                # One batched generate per model and chunk on local models; files are read, not asked.
                answers[side] = ask[side].batch(chunk, config) if rows is None else [
                    r["output"] for r in rows[start : start + len(chunk)]]
            pairs = [{**item, "answer_a": a, "answer_b": b}
                     for item, a, b in zip(chunk, answers["a"], answers["b"], strict=True)]
            verdicts = judge_pairs(judge, pairs, lang=args.lang, max_concurrency=args.max_concurrency)
            for i, (pair, verdict) in enumerate(zip(pairs, verdicts, strict=True), start):
                judged.append(verdict)
                records.append({"index": i, **pair, **verdict.to_dict()})
                if sink is not None:
                    sink.write(json.dumps(records[-1], ensure_ascii=False) + "\n")
            if bar is not None:
                bar.update(bar.task_ids[0], completed=len(records))
    except KeyboardInterrupt:
        interrupted = True
        print(f"interrupted: {len(records)} of {len(items)} instructions judged", file=sys.stderr)
    finally:
        if bar is not None:
            bar.stop()
        if sink is not None:
            sink.close()
    tally = Tally.of([j.winner for j in judged], judged)
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


class _LazyOut:
    """The --out file, created (or truncated) when the first record is written, each record flushed at once: a
    run that fails or is interrupted before its first verdict leaves no empty file (and an older one intact)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: TextIO | None = None

    def write(self, text: str) -> None:
        if self._fh is None:
            from apps.runner import OutputFileError

            try:
                self._fh = self.path.open("w", encoding="utf-8")
            except OSError as err:
                raise OutputFileError(f"cannot write results to {self.path}: {err.strerror}") from None
        self._fh.write(text)
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


def _open_out(path: str | None) -> _LazyOut | None:
    from apps.runner import check_output_path

    if not path:
        return None
    check_output_path(Path(path))  # an unwritable path fails now, before any model runs
    return _LazyOut(Path(path))


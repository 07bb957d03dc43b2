"""`recipes logs`: the run history (`llms.history`) -- latest runs, one run's steps, where the file is, pruning.

    recipes logs [-n 20] [--app json-qa] [--json]     latest runs, newest first
    recipes logs show RUN [--all] [--json]            each step: prompt, output, timings, tokens (RUN: id, prefix, last)
    recipes logs path                                 the database file
    recipes logs prune --older-than 30d               delete runs older than that (s, m, h, d, w)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from typing import Any

__all__ = ["add_parser", "parse_age", "run_list", "run_path", "run_prune", "run_show"]

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 86400.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}


def parse_age(text: str) -> float:
    """``30d`` -> seconds (units s, m, h, d, w; a bare number is days).

    >>> parse_age("30d"), parse_age("12h"), parse_age("2")
    (2592000.0, 43200.0, 172800.0)
    """
    match = _AGE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected an age such as 30d, 12h, 90m or 2w, got {text!r}")
    return float(match[1]) * _UNITS[match[2]]


def _db() -> Any:
    from llms.history_db import HistoryDB

    return HistoryDB()


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def _took(run: dict[str, Any]) -> str:
    return f"{run['ended'] - run['started']:.2f}s" if run.get("ended") else "-"


def _specs(run: dict[str, Any]) -> str:
    models = run.get("models") or []
    return ", ".join(str(m.get("spec")) for m in models if isinstance(m, dict)) or "-"


def run_list(args: argparse.Namespace) -> int:
    """The latest runs, newest first, as a table (or, with --json, a JSON list of runs with their steps)."""
    db = _db()
    runs = db.list_runs(limit=args.n, app=args.app)
    if args.json:  # each run with its steps, as `logs show RUN --json` prints one
        full = [{**r, "steps": (db.get_run(r["id"]) or {}).get("steps", [])} for r in runs]
        print(json.dumps(full, ensure_ascii=False, indent=2))
        return 0
    if not runs:
        print("no runs logged yet", file=sys.stderr)
        return 0
    header = ("run", "started", "app", "status", "took", "calls", "model s", "tokens", "hits", "model")
    rows = [
        (r["id"][:12], _when(r["started"]), r["app"], r["status"], _took(r), str(r["n_calls"]),
         f"{r['model_s']:.2f}", str(r["tokens"]), str(r["cache_hits"]), _specs(r)[:40])
        for r in runs
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    for row in (header, *rows):
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


def _is_plumbing(name: str | None) -> bool:
    from llms.cassette import is_plumbing

    return is_plumbing(name)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _print_call(step: dict[str, Any], pad: str) -> None:
    for message in step.get("messages") or []:
        content = str(message.get("content", "")) if isinstance(message, dict) else str(message)
        role = message.get("role", "?") if isinstance(message, dict) else "?"
        lines = content.splitlines() or [""]
        print(f"{pad}  {role}: {lines[0]}")
        for line in lines[1:]:
            print(f"{pad}    {line}")
    if step.get("raw_output") is not None:
        print(f"{pad}  output: {step['raw_output']}")
    if step.get("parsed_output") is not None:
        print(f"{pad}  parsed: {_text(step['parsed_output'])}")


def _describe(step: dict[str, Any]) -> str:
    bits = [f"{step['kind']} {step['name']}", f"{step['latency_s']:.3f}s" if step.get("latency_s") is not None else ""]
    if step["kind"] != "chain":
        if step.get("spec"):
            bits.append(f"spec={step['spec']}")
        if step.get("model_name"):
            bits.append(f"model={step['model_name']}")
        if step.get("engine"):
            bits.append(f"engine={step['engine']}")
        if step.get("finish_reason"):
            bits.append(f"finish={step['finish_reason']}")
        if step.get("total_tokens") is not None:
            bits.append(f"tokens={step.get('input_tokens')}+{step.get('output_tokens')}")
        if step.get("cache_hit"):
            bits.append("[cache hit]")
    if step.get("error_type"):
        bits.append(f"error: {step['error_type']}: {step.get('error_message')}")
    return "  ".join(b for b in bits if b)


def run_show(args: argparse.Namespace) -> int:
    """One run: its steps as a tree (LangChain plumbing hidden unless --all), prompts and outputs of model calls."""
    db = _db()
    run_id = db.find_run(args.run)
    run = db.get_run(run_id) if run_id else None
    if run is None:
        print(f"error: no run {args.run!r} in {db.path} (see `recipes logs`)", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(run, ensure_ascii=False, indent=2))
        return 0
    exit_part = f" (exit {run['exit_code']})" if run.get("exit_code") is not None else ""
    print(f"run {run['id']}  {run['app']}  {run['status']}{exit_part}  {_when(run['started'])}  {_took(run)}")
    print(f"models: {_specs(run)}")
    if run.get("error_type"):
        print(f"error: {run['error_type']}: {run.get('error_message')}")
    steps = run["steps"]
    known = {s["lc_id"]: s for s in steps if s.get("lc_id")}
    depth: dict[str, int] = {}

    def level(step: dict[str, Any]) -> int:
        parent = known.get(step.get("parent_lc_id") or "")
        if parent is None:
            return 0
        key = parent["lc_id"]
        if key not in depth:
            depth[key] = level(parent) + (1 if args.all or not _is_plumbing(parent["name"]) else 0)
        return depth[key]

    for step in steps:
        if step["kind"] == "chain" and not args.all and _is_plumbing(step["name"]) and step.get("parent_lc_id"):
            continue
        pad = "  " * level(step)
        print(f"{pad}- {_describe(step)}")
        if step["kind"] != "chain":
            _print_call(step, pad)
    return 0


def run_path(args: argparse.Namespace) -> int:
    from llms.history_db import default_history_path

    print(default_history_path())
    return 0


def run_prune(args: argparse.Namespace) -> int:
    removed = _db().prune(parse_age(args.older_than))
    print(f"removed {removed} run(s) older than {args.older_than}")
    return 0


def _age_text(text: str) -> str:
    parse_age(text)  # as an argparse type: a malformed age is a usage error (exit 2) before anything runs
    return text


def add_parser(subparsers: Any, parents: list[argparse.ArgumentParser] = ()) -> None:  # type: ignore[assignment]
    """Register `logs` (list), `logs show RUN`, `logs path`, `logs prune` on the CLI's subparsers (`args.func`)."""
    parents = list(parents)
    parser = subparsers.add_parser("logs", help="the run history: latest runs, one run's steps, prune", parents=parents)
    parser.add_argument("-n", type=int, default=20, help="how many runs (default 20)")
    parser.add_argument("--app", help="only runs of this app (e.g. json-qa)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run_list)
    actions = parser.add_subparsers(dest="logs_command", metavar="{show,path,prune}")
    show = actions.add_parser("show", help="one run's steps: prompts, outputs, timings, tokens", parents=parents)
    show.add_argument("run", help="a run id, a unique prefix of one, or `last`")
    show.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    show.add_argument("--all", action="store_true", help="show LangChain's plumbing steps too")
    show.set_defaults(func=run_show)
    path = actions.add_parser("path", help="print the history database's path", parents=parents)
    path.set_defaults(func=run_path)
    prune = actions.add_parser("prune", help="delete old runs", parents=parents)
    prune.add_argument("--older-than", required=True, type=_age_text, metavar="AGE", help="e.g. 30d, 12h, 2w")
    prune.set_defaults(func=run_prune)


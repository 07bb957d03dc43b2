"""Scale-out options for the batch apps (json-qa --input, self-instruct, judge): ``--executor {local,ray}``,
``--ray-address``, ``--workers``; declared here once, and the Ray run of json-qa into its journal.

Imports stay lazy: declaring the options loads neither Ray nor LangChain.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import Any, TextIO

__all__ = ["add_executor_arguments", "check_executor", "recipe_options", "results", "run_on_ray", "uses_ray"]

# What a worker needs to load its model again; everything else on the command line stays with the driver.
_LOCAL_ONLY = ("func", "record", "replay", "fallback")


def add_executor_arguments(parser: argparse.ArgumentParser) -> None:
    """``--executor``, ``--ray-address``, ``--workers`` (each batch app's add_arguments calls this)."""
    group = parser.add_argument_group("scale-out (Ray)")
    group.add_argument("--executor", choices=["local", "ray"], default="local",
                       help="local: this process (default); ray: workers on a Ray cluster, each loading the model")
    group.add_argument("--ray-address", metavar="ADDR", default=os.environ.get("RAY_ADDRESS") or None,
                       help="the cluster to join (e.g. ray://head:10001; env RAY_ADDRESS); default: a local Ray "
                       "started for the run")
    group.add_argument("--workers", type=int, default=2,
                       help="Ray workers (actors), each with its own model; --threads is per worker (default 2)")


def uses_ray(args: argparse.Namespace) -> bool:
    return getattr(args, "executor", "local") == "ray"


def check_executor(args: argparse.Namespace) -> None:
    """Refuse, in one line, options that cannot go with the chosen executor (before any model loads)."""
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    if not uses_ray(args):
        return
    clashing = [f"--{name}" for name in ("record", "replay", "fallback") if getattr(args, name, None)]
    if clashing:
        raise ValueError(f"{' and '.join(clashing)}: only with --executor local (Ray workers are other processes)")


def recipe_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options a worker rebuilds its model from: plain values only (spec strings, numbers), never a model."""
    plain = (str, int, float, bool, type(None))
    return {k: v for k, v in vars(args).items() if k not in _LOCAL_ONLY and isinstance(v, plain)}


def results(
    args: argparse.Namespace, recipe_factory: Callable[[], Any], inputs: Sequence[Any], *, batch_size: int,
    skip: set[int] | None = None,
) -> Generator[tuple[int, Any], None, None]:
    """``(index, output or exception)`` from `chains.batch.run_over` with the executor the command line chose."""
    from chains.batch import run_over

    stream = run_over(
        recipe_factory, inputs, executor=args.executor, workers=args.workers, batch_size=batch_size,
        max_concurrency=batch_size, num_cpus=max(1, getattr(args, "threads", None) or 1),
        ray_address=args.ray_address, skip=skip or set(),
    )
    # Ray prints its notices (a worker lost, a batch retried) on stdout, where json-qa may be writing its lines
    # (that stream was taken before): they go to stderr, with the other diagnostics, until the run is over.
    with contextlib.redirect_stdout(sys.stderr):
        yield from stream


def run_on_ray(
    args: argparse.Namespace, recipe_factory: Callable[[], Any], inputs: Sequence[Any], out: str | Path | TextIO,
    *, batch_size: int, resume: bool = False,
) -> Any:
    """`apps.runner.run_many`'s journal and summary for a Ray run: each worker's lines as they come back, each
    index once; Ctrl-C keeps what came back (summary ``interrupted``), --resume skips what is done."""
    from apps.journal import Journal
    from apps.runner import RunSummary, record

    summary = RunSummary(total=len(inputs), output=str(out) if isinstance(out, str | Path) else "")
    started = time.monotonic()
    with Journal(out, resume=resume, total=len(inputs)) as journal:
        summary.skipped = sum(1 for i in journal.done if i < len(inputs))
        journal.show(advance=summary.skipped)
        try:
            for index, outcome in results(args, recipe_factory, inputs, batch_size=batch_size, skip=journal.done):
                if journal.write(record(index, inputs[index], outcome)):  # False: a retried batch's repeat
                    summary.count(index, outcome)
        except KeyboardInterrupt:
            summary.interrupted = True
    summary.seconds = time.monotonic() - started
    return summary

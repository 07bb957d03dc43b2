"""Scale-out: the same inputs through the local runner and through Ray with 1 and 2 workers, measured in one run.

Run:  .venv/bin/python bench/scale.py [--n 40] [--sleep 0.1] [--tokens 16] [--tiny-only | --fake-only]

Two recipes: json-qa on the fake model with a per-call sleep (a stand-in for a server's latency: what Ray adds
when the work is waiting), and json-qa on a tiny random GPT-Neo (CPU-bound work). Each worker (and the local
runner) keeps 2 calls in flight; Ray's start (`ray.init`) is timed once, apart; each Ray run includes starting its
actors and loading their models. Ratios are local time / Ray time (above 1x: Ray is faster). On a 2-core machine
CPU-bound work cannot get faster with more processes: expect <= 1x there; the sleep recipe shows the overlap.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

IN_FLIGHT = 2


@dataclass(frozen=True)
class Recipe:
    """json-qa on `spec`, each call first sleeping `sleep` seconds; built in each worker."""

    spec: str
    sleep: float = 0.0
    tokens: int = 16

    def __call__(self) -> Any:
        from langchain_core.runnables import RunnableLambda

        from chains.answers import json_qa
        from llms import load_model

        options = {"max_new_tokens": self.tokens, "threads": 1} if self.spec.startswith("hf:") else {}
        chain = json_qa(load_model(self.spec, **options))

        def ask(question: str) -> Any:
            time.sleep(self.sleep)
            return chain.invoke({"question": question})

        return RunnableLambda(ask)


def timed_local(recipe: Recipe, inputs: list[str]) -> float:
    from apps.runner import run_many

    chain = recipe()  # the model loads once, as one Ray worker's does (timed there too)
    started = time.perf_counter()
    summary = run_many(chain, inputs, io.StringIO(), max_concurrency=IN_FLIGHT, progress=False)
    assert summary.ok + summary.failed == len(inputs)
    return time.perf_counter() - started


def timed_ray(recipe: Recipe, inputs: list[str], workers: int) -> tuple[float, float]:
    """Seconds for the whole run, and from its first result on (the actors up, their models loaded)."""
    from chains.batch import run_over

    started = time.perf_counter()
    first, got = 0.0, set()
    for i, _ in run_over(recipe, inputs, executor="ray", workers=workers, batch_size=IN_FLIGHT,
                         max_concurrency=IN_FLIGHT):
        first = first or time.perf_counter()
        got.add(i)
    assert got == set(range(len(inputs))), "an index was lost"
    end = time.perf_counter()
    return end - started, end - first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--sleep", type=float, default=0.1, help="seconds per call of the fake recipe")
    parser.add_argument("--tokens", type=int, default=16, help="new tokens per answer of the tiny model")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--tiny-only", action="store_true")
    only.add_argument("--fake-only", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("RECIPES_THREADS", "1")
    import ray

    from tests.tiny import save_tiny_gpt_neo

    inputs = [f"What is {i} + {i}?" for i in range(args.n)]
    recipes = {}
    if not args.tiny_only:
        recipes[f"fake, {args.sleep:g} s per call"] = Recipe('fake:{"answer": "4"}', sleep=args.sleep)
    if not args.fake_only:
        tiny = save_tiny_gpt_neo(Path(tempfile.mkdtemp(prefix="tiny-gpt-neo-")))
        recipes[f"tiny GPT-Neo, {args.tokens} tokens"] = Recipe(f"hf:{tiny}", tokens=args.tokens)
    started = time.perf_counter()
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    print(f"ray.init (local, num_cpus=2): {time.perf_counter() - started:.1f} s; cores here: {os.cpu_count()}; "
          f"{args.n} inputs, {IN_FLIGHT} calls in flight per worker")
    try:
        for name, recipe in recipes.items():
            local = timed_local(recipe, inputs)
            print(f"{name}: local runner {local:.1f} s ({args.n / local:.1f} inputs/s)")
            for workers in (1, 2):
                took, steady = timed_ray(recipe, inputs, workers)
                rest = (args.n - 1) / steady if steady > 0 else float("inf")
                print(f"{name}: ray, {workers} worker{'s' if workers > 1 else ''} {took:.1f} s "
                      f"({args.n / took:.1f} inputs/s) = {local / took:.2f}x the local runner; after the first "
                      f"result (actors up) {rest:.1f} inputs/s = {rest / (args.n / local):.2f}x")
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()

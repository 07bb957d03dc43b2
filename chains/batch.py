"""Run a recipe over many inputs in batches, in this process or on a Ray cluster; results stream back as they finish.

What travels to a worker is a recipe *factory*, not a model: ``recipe_factory()`` runs once in each worker (it
loads the model there, from a spec string and options) and returns a Runnable (run with ``.batch``, at most
`max_concurrency` calls in flight) or a function from a list of inputs to a list of outputs. Errors come back as
values (`RemoteError` when raised in a Ray worker); each index is yielded at most once, in finishing order.

On Ray the inputs become a Ray Dataset and each worker is an actor of `map_batches`: an actor that dies (a kill,
an out-of-memory) is restarted and its batch retried, and the indices it had not returned are not lost.

Example, eight workers against an OpenAI-compatible server (vLLM)::

    from chains.answers import json_qa
    from chains.batch import run_over
    from llms import load_model

    def recipe():  # runs in each worker
        return json_qa(load_model("openai:Qwen/Qwen2.5-7B-Instruct", base_url="http://vllm:8000/v1"))

    questions = [{"question": q} for q in open("questions.txt", encoding="utf-8").read().splitlines()]
    for index, answer in run_over(recipe, questions, executor="ray", workers=8, ray_address="auto"):
        print(index, answer)

>>> from langchain_core.runnables import RunnableLambda
>>> def shout():
...     return RunnableLambda(str.upper)
>>> sorted(run_over(shout, ["a", "서울"], batch_size=1))
[(0, 'A'), (1, '서울')]
"""

from __future__ import annotations

import logging
import math
import os
import pickle
from collections.abc import Callable, Collection, Generator, Iterable, Sequence
from typing import Any

from langchain_core.exceptions import OutputParserException
from langchain_core.runnables import Runnable, RunnableConfig

from core.errors import RecipesError

__all__ = ["EXECUTORS", "RemoteError", "apply_batch", "run_over"]

EXECUTORS = ("local", "ray")


class RemoteError(RecipesError, RuntimeError):
    """An error raised in a Ray worker, by its class name and message (the class itself may not exist here)."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(message)
        self.type_name = type_name

    def __reduce__(self) -> tuple[Any, ...]:
        return (RemoteError, (self.type_name, str(self)))


def apply_batch(recipe: Any, values: Sequence[Any], config: RunnableConfig | None = None) -> list[Any]:
    """The recipe's outputs for `values`, one per value; a failure is the exception in its place (a recipe that
    fails as a whole puts its exception in every place)."""
    try:
        if isinstance(recipe, Runnable):
            return list(recipe.batch(list(values), config, return_exceptions=True))
        outputs = list(recipe(list(values)))
    except Exception as err:
        return [err] * len(values)
    if len(outputs) != len(values):
        wrong = ValueError(f"the recipe returned {len(outputs)} outputs for {len(values)} inputs")
        return [wrong] * len(values)
    return outputs


def _portable(outcome: Any) -> bytes:
    """An output as bytes for the trip to the driver. An exception goes as itself if it survives the trip, else as
    its name and message (a parser failure stays an OutputParserException: self-instruct counts those as
    rejections, not as a failed run)."""
    if not isinstance(outcome, BaseException):
        return pickle.dumps(outcome)
    try:
        data = pickle.dumps(outcome)
        pickle.loads(data)  # our own bytes; some exception classes pickle but cannot be rebuilt
        return data
    except Exception:
        pass
    message = (str(outcome).splitlines() or [""])[0]
    if isinstance(outcome, OutputParserException):
        stand_in: BaseException = OutputParserException(message or "unparsable output")
        stand_in.type_name = type(outcome).__name__  # type: ignore[attr-defined]
    else:
        stand_in = RemoteError(type(outcome).__name__, message)
    return pickle.dumps(stand_in)


class _Worker:
    """One Ray actor: builds the recipe once, then runs it on each batch of ``{"index", "payload"}`` rows."""

    def __init__(self, recipe_factory: Callable[[], Any], max_concurrency: int) -> None:
        self.recipe = recipe_factory()
        self.config: RunnableConfig = {"max_concurrency": max_concurrency}

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        values = [pickle.loads(p) for p in batch["payload"]]  # our own bytes, made by the driver
        outputs = apply_batch(self.recipe, values, self.config)
        return {"index": list(batch["index"]), "payload": [_portable(o) for o in outputs]}


def _quiet_ray() -> None:
    # The apps print a summary line; Ray's progress bars and INFO lines would bury it.
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    # Ray Data's own actors trip a core-worker notice on every run (ray-project/ray#53727); failures still raise.
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    for name in ("ray", "ray.data", "ray._private", "ray.util"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _ray_results(
    recipe_factory: Callable[[], Any], items: list[tuple[int, Any]], *, workers: int, batch_size: int,
    max_concurrency: int, num_cpus: float, ray_address: str | None,
) -> Generator[tuple[int, Any], None, None]:
    import ray
    import ray.data

    _quiet_ray()
    started_here = not ray.is_initialized()
    if started_here:  # a local Ray for this run (or a connection to `ray_address`), shut down after it
        # "local": a new Ray of our own, never one some other program on this machine started.
        cpus = None if ray_address else max(2, math.ceil(workers * num_cpus))
        ray.init(address=ray_address or "local", num_cpus=cpus, include_dashboard=False,
                 logging_level=logging.ERROR, log_to_driver=False)
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        rows = [{"index": i, "payload": pickle.dumps(v)} for i, v in items]
        dataset = ray.data.from_items(rows, override_num_blocks=max(1, math.ceil(len(rows) / batch_size)))
        answered = dataset.map_batches(
            _Worker, fn_constructor_args=(recipe_factory, max_concurrency), batch_size=batch_size,
            compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=num_cpus,
        )
        for batch in answered.iter_batches(batch_size=None, batch_format="numpy"):
            for index, payload in zip(batch["index"], batch["payload"], strict=True):
                yield int(index), pickle.loads(payload)  # bytes from our own workers
    finally:
        if started_here:
            ray.shutdown()


def run_over(
    recipe_factory: Callable[[], Any],
    inputs: Iterable[Any],
    *,
    executor: str = "local",
    workers: int = 2,
    batch_size: int = 8,
    max_concurrency: int | None = None,
    num_cpus: float = 1,
    ray_address: str | None = None,
    skip: Collection[int] = (),
) -> Generator[tuple[int, Any], None, None]:
    """Yield ``(index, output)`` for every input whose index is not in `skip`, each index once, as batches finish.

    executor: "local" (batches one after another, here) or "ray" (`workers` actors of `num_cpus` each; a local
    Ray is started for the run unless one is running or `ray_address` names a cluster). max_concurrency: calls
    in flight per worker for a Runnable recipe (default `batch_size`; on local models one batched generate).
    """
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if workers < 1 or batch_size < 1 or (max_concurrency is not None and max_concurrency < 1):
        raise ValueError("workers, batch_size and max_concurrency must be >= 1")
    items = [(i, v) for i, v in enumerate(inputs) if i not in skip]
    if not items:
        return
    concurrency = max_concurrency or batch_size
    if executor == "ray":
        results = _ray_results(recipe_factory, items, workers=workers, batch_size=batch_size,
                               max_concurrency=concurrency, num_cpus=num_cpus, ray_address=ray_address)
    else:
        results = _local_results(recipe_factory, items, batch_size, concurrency)
    seen: set[int] = set()
    try:
        for index, output in results:
            if index not in seen:  # a retried batch may report an index twice: the first one counts
                seen.add(index)
                yield index, output
    finally:
        results.close()  # a caller that stops early (Ctrl-C, enough results) stops the workers, and a local Ray


def _local_results(
    recipe_factory: Callable[[], Any], items: list[tuple[int, Any]], batch_size: int, max_concurrency: int
) -> Generator[tuple[int, Any], None, None]:
    recipe = recipe_factory()
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        outputs = apply_batch(recipe, [v for _, v in chunk], {"max_concurrency": max_concurrency})
        yield from zip((i for i, _ in chunk), outputs, strict=True)

"""Self-instruct, as Alpaca was made: a few seed tasks in the prompt -> the model writes a new task -> keep it only
if it is well formed and its instruction's ROUGE-L F1 against every kept instruction (seeds included) is < 0.7.

>>> from llms import load_model
>>> new = '{"instruction": "Name three ocean animals.", "input": "", "output": "Whale, shark, octopus."}'
>>> run = SelfInstruct(load_model(f"fake:{new}"), load_seed_tasks(lang="en"))
>>> [t.instruction for t in run.run(n=2, max_calls=3)], run.rejected["too similar"]
(['Name three ocean animals.'], 2)
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from langchain_core.exceptions import OutputParserException
from langchain_core.runnables import Runnable, RunnableLambda
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chains.language import detect_language
from chains.task_filters import MAX_CHARS, REJECT_REASONS, SIMILARITY_THRESHOLD, TaskFilter, rouge_l
from core.errors import RecipesError

__all__ = [
    "MAX_CHARS",
    "REJECT_REASONS",
    "SIMILARITY_THRESHOLD",
    "AlpacaTask",
    "NewTask",
    "SeedFileError",
    "SelfInstruct",
    "TaskFilter",
    "load_seed_tasks",
    "load_tasks",
    "rouge_l",
    "task_writer",
]

# Worst case of the grammar-bounded JSON at a character per token (English); byte-level tokenizers can need
# more tokens per Korean character, and a row cut there is rejected as "invalid" (raise the budget to keep it).
WRITER_TOKENS = sum(MAX_CHARS.values()) + 50
RESUME_STRIDE = 1_000_003  # a resumed run's seeds start this far on per earlier task: no overlap in practice


class SeedFileError(RecipesError, ValueError):
    """A seed or task file that is not a JSON list of {instruction, input, output} objects (the message says where)."""


class AlpacaTask(BaseModel):
    """One Alpaca record. Seeds and loaded files are not length-bounded; generated tasks are (`NewTask`)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    instruction: str
    input: str = ""
    output: str


class NewTask(BaseModel):
    """The schema a model answers with; the bounds also bound the grammar on local models."""

    instruction: str = Field(min_length=10, max_length=MAX_CHARS["instruction"])
    input: str = Field(max_length=MAX_CHARS["input"], description="empty string when no input is needed")
    output: str = Field(min_length=1, max_length=MAX_CHARS["output"])


# -- files --------------------------------------------------------------------------------------------------------
def load_tasks(path: str | Path) -> list[AlpacaTask]:
    """Tasks from an Alpaca JSON list (``.json``) or one object per line (``.jsonl``; a torn last line is skipped)."""
    from chains.files import read_user_text

    path = Path(path)
    text = read_user_text(path, SeedFileError, "task file")
    if path.suffix.lower() == ".jsonl":
        rows = []
        for line in text.splitlines():
            try:
                rows.append(json.loads(line))
            except (json.JSONDecodeError, RecursionError):
                continue  # a line cut by a crash; the lines before it are whole
    else:
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as err:
            raise SeedFileError(f"{path}: not valid JSON ({err.msg}, line {err.lineno})") from None
        except RecursionError:
            raise SeedFileError(f"{path}: JSON nested too deeply") from None
    if not isinstance(rows, list):
        raise SeedFileError(f"{path}: expected a JSON list of {{instruction, input, output}} objects")
    return [_task(row, f"{path}[{i}]") for i, row in enumerate(rows)]


def _task(row: Any, where: str) -> AlpacaTask:
    try:
        return AlpacaTask.model_validate(row)
    except ValidationError as err:
        fields = ", ".join(".".join(map(str, e["loc"])) or "(item)" for e in err.errors())
        raise SeedFileError(f"{where}: not an {{instruction, input, output}} task (bad: {fields})") from None


def load_seed_tasks(path: str | Path | None = None, *, lang: str | None = None) -> list[AlpacaTask]:
    """The seed tasks: the shipped ones (20 English, 10 Korean) or a file; `lang` keeps only that language."""
    if path is None:
        source = resources.files("chains") / "data" / "seed_tasks.json"
        tasks = [_task(row, f"seed_tasks.json[{i}]") for i, row in enumerate(json.loads(source.read_text("utf-8")))]
    else:
        tasks = load_tasks(path)
    if lang is not None:
        tasks = [t for t in tasks if detect_language(t.instruction) == lang]
    if not tasks:
        raise SeedFileError(f"no seed tasks{f' in {lang!r}' if lang else ''}{f' in {path}' if path else ''}")
    return tasks


# -- the recipe ---------------------------------------------------------------------------------------------------
def _examples(tasks: Sequence[AlpacaTask]) -> str:
    return "\n".join(json.dumps(t.model_dump(), ensure_ascii=False) for t in tasks)


def task_writer(
    model: Runnable[Any, Any], *, lang: str = "en", max_new_tokens: int = WRITER_TOKENS, max_attempts: int = 2
) -> Runnable[dict[str, Any], NewTask]:
    """``{"examples": [AlpacaTask, ...]}`` -> one new `NewTask` (grammar-constrained on local models; others get
    the schema in the prompt and up to `max_attempts` asks). `.batch` is one batched generate on local models.
    Bind sampling options first: ``task_writer(model.bind(temperature=0.8, seed=1))``.
    """
    from llms.limits import with_max_tokens
    from llms.structured import constrained
    from prompts import get

    prompt = get("self_instruct", lang=lang)
    to_prompt: Runnable[dict[str, Any], Any] = RunnableLambda(
        lambda v: prompt.invoke({"examples": _examples(v["examples"])}), name="examples"
    )
    return to_prompt | constrained(with_max_tokens(model, max_new_tokens), NewTask, max_attempts=max_attempts)


class SelfInstruct:
    """A self-instruct run: call `run`; `kept` (new tasks) and `rejected` stay readable after an interrupt.

    `existing`: tasks generated earlier (a resumed run) count toward `n` and join the similarity pool.
    """

    def __init__(
        self,
        model: Runnable[Any, Any],
        seeds: Sequence[AlpacaTask],
        *,
        lang: str | None = None,
        existing: Iterable[AlpacaTask] = (),
        num_examples: int = 3,
        temperature: float = 0.8,
        seed: int = 0,
        max_new_tokens: int = WRITER_TOKENS,
        max_concurrency: int = 4,
        max_attempts: int = 2,
    ) -> None:
        if not seeds:
            raise SeedFileError("self-instruct needs at least one seed task")
        if max_concurrency < 1 or num_examples < 1:
            raise ValueError("max_concurrency and num_examples must be >= 1")
        self.seeds = list(seeds)
        self.lang = lang or Counter(detect_language(t.instruction) for t in self.seeds).most_common(1)[0][0]
        self.existing = list(existing)
        self.kept: list[AlpacaTask] = []
        self.rejected: Counter[str] = Counter({reason: 0 for reason in REJECT_REASONS})
        self.calls = 0
        self.unused = 0
        self.filter = TaskFilter([*self.seeds, *self.existing])
        self._model, self._max_new_tokens = model, max_new_tokens
        self._num_examples, self._temperature = num_examples, temperature
        self._concurrency, self._max_attempts = max_concurrency, max_attempts
        # A resumed run draws from a stream of its own: replaying the first run's seeds redraws its kept tasks,
        # all rejected as too similar now (measured: 48 kept in 420 calls, then 0 in the ~100 resumed ones).
        self.stream_seed = seed + RESUME_STRIDE * len(self.existing)
        self._rng = random.Random(self.stream_seed)

    @property
    def tasks(self) -> list[AlpacaTask]:
        """Everything to write: earlier tasks, then this run's."""
        return [*self.existing, *self.kept]

    def draw_examples(self) -> list[AlpacaTask]:
        """The next prompt's examples: `num_examples` seed tasks at random, repeatably (from `stream_seed`)."""
        return self._rng.sample(self.seeds, min(self._num_examples, len(self.seeds)))

    def _round(self, size: int) -> list[Any]:
        # A fresh seed per round: sampling varies from round to round yet a run is repeatable.
        model = self._model.bind(temperature=self._temperature, seed=self.stream_seed + self.calls)
        writer = task_writer(model, lang=self.lang, max_new_tokens=self._max_new_tokens,
                             max_attempts=self._max_attempts)
        inputs = [{"examples": self.draw_examples()} for _ in range(size)]
        self.calls += size
        return writer.batch(inputs, {"max_concurrency": self._concurrency}, return_exceptions=True)

    def run(
        self,
        n: int,
        max_calls: int | None = None,
        *,
        on_kept: Callable[[AlpacaTask], None] | None = None,
        on_round: Callable[[SelfInstruct], None] | None = None,
    ) -> list[AlpacaTask]:
        """Generate until `n` tasks in all (earlier ones included) or `max_calls` prompts (default 3 * n).

        Each round asks `max_concurrency` prompts at once; `on_kept` sees each kept task immediately; answers
        of the last round beyond `n` are not looked at (counted in `unused`).
        """
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        budget = 3 * n if max_calls is None else max_calls
        while len(self.tasks) < n and self.calls < budget:
            for result in self._round(min(self._concurrency, budget - self.calls)):
                if len(self.tasks) >= n:
                    self.unused += 1  # the last round made more than needed
                    continue
                if isinstance(result, OutputParserException):  # not JSON, schema failure, truncated, gave up
                    self.rejected["invalid"] += 1
                    continue
                if isinstance(result, BaseException):  # the model failed (server down, prompt too long): stop
                    raise result
                task = AlpacaTask(instruction=result.instruction.strip(), input=result.input.strip(),
                                  output=result.output.strip())
                reason = self.filter.check(result)
                if reason is not None:
                    self.rejected[reason] += 1
                    continue
                self.filter.add(task)
                self.kept.append(task)
                if on_kept is not None:
                    on_kept(task)
            if on_round is not None:
                on_round(self)
        return self.kept

"""Sequential recipes: Runnables run one after another over a dict of named values, with keys checked at build.

Each step reads the values so far (the recipe's inputs plus earlier steps' outputs) and adds its own output
under its key. Unlike the classic ``SequentialChain`` any Runnable is a step and the recipe streams; unlike
``RunnablePassthrough.assign`` a step that needs a key nobody provides fails when the recipe is built.

>>> from langchain_core.runnables import RunnableLambda
>>> recipe = sequential(
...     Step("upper", RunnableLambda(lambda d: d["text"].upper())),
...     Step("size", RunnableLambda(lambda d: len(d["upper"]))),
...     inputs=["text"],
... )
>>> recipe.invoke({"text": "영화 night"})
{'text': '영화 night', 'upper': '영화 NIGHT', 'size': 8}
"""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from functools import partial
from typing import Any, TextIO

from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import patch_config
from langchain_core.runnables.utils import ConfigurableFieldSpec, get_unique_config_specs
from langchain_core.utils.pydantic import TypeBaseModel, create_model_v2
from pydantic import BaseModel

from chains.steps import (
    ChainBuildError,
    ChainInputError,
    DuplicateKeyError,
    MissingKeyError,
    StateChunk,
    Step,
    derive_input_keys,
)
from chains.steps import add_values as _add
from chains.steps import check_keys as _check_keys
from chains.steps import to_step as _as_step
from core.errors import RecipesError

__all__ = [
    "ChainBuildError",
    "ChainInputError",
    "DuplicateKeyError",
    "MissingKeyError",
    "SequentialRecipe",
    "StateChunk",
    "Step",
    "derive_input_keys",
    "sequential",
]

_TRACE_VALUE_CHARS = 300  # a trace line shows this much of each value; whole prompts drown the trace


class SequentialRecipe(Runnable[dict[str, Any], dict[str, Any]]):
    """Steps run in order over a dict; the result holds the inputs plus every step's output.

    ``batch`` calls each step's ``batch`` once for all rows. ``stream`` runs all but the last step,
    yields one `StateChunk` with the values so far, then one ``{final_key: piece}`` chunk per piece the
    last step streams: adding the chunks up gives the ``invoke`` result. With ``verbose`` a trace of
    every step goes to ``file`` (standard error by default).
    """

    def __init__(
        self,
        steps: Sequence[Step | tuple[Any, ...]],
        *,
        inputs: Sequence[str] | str,
        verbose: bool = False,
        file: TextIO | None = None,
        name: str | None = None,
    ) -> None:
        self._steps = tuple(_as_step(s) for s in steps)
        self._inputs = (inputs,) if isinstance(inputs, str) else tuple(inputs)
        _check_keys(self._inputs, self._steps)
        self._verbose = verbose
        self._file = file
        self.name = name

    @property
    def steps(self) -> tuple[Step, ...]:
        return self._steps

    @property
    def input_keys(self) -> tuple[str, ...]:
        return self._inputs

    @property
    def output_keys(self) -> tuple[str, ...]:
        """Every step's output key, in order."""
        return tuple(s.output_key for s in self._steps)

    @property
    def final_key(self) -> str:
        """The last step's output key: the one ``stream`` streams."""
        return self._steps[-1].output_key

    @property
    def verbose(self) -> bool:
        return self._verbose

    def extend(self, *steps: Step | tuple[Any, ...]) -> SequentialRecipe:
        """A new recipe with ``steps`` appended (keys checked again); this one is unchanged."""
        return self._copy(steps=self._steps + tuple(_as_step(s) for s in steps))

    def with_verbose(self, verbose: bool = True, file: TextIO | None = None) -> SequentialRecipe:
        """A new recipe that traces its steps to ``file`` (standard error by default)."""
        return self._copy(verbose=verbose, file=file)

    def _copy(self, **changes: Any) -> SequentialRecipe:
        settings: dict[str, Any] = {
            "steps": self._steps, "inputs": self._inputs, "verbose": self._verbose, "file": self._file,
            "name": self.name,
        }  # fmt: skip
        settings.update(changes)
        return SequentialRecipe(settings.pop("steps"), **settings)

    def __repr__(self) -> str:
        steps = ", ".join(f"{s.name}->{s.output_key}" for s in self._steps)
        return f"SequentialRecipe(inputs={list(self._inputs)}, steps=[{steps}])"

    # --- schemas --------------------------------------------------------------------------------------

    def get_input_schema(self, config: RunnableConfig | None = None) -> TypeBaseModel:
        return self._schema("Input", self._inputs) or super().get_input_schema(config)

    def get_output_schema(self, config: RunnableConfig | None = None) -> TypeBaseModel:
        return self._schema("Output", self._inputs + self.output_keys) or super().get_output_schema(config)

    def _schema(self, suffix: str, keys: tuple[str, ...]) -> type[BaseModel] | None:
        try:
            return create_model_v2(self.get_name(suffix), field_definitions={k: (Any, ...) for k in keys})
        except Exception:  # keys pydantic cannot name (e.g. a leading "_") just leave the schema generic
            return None

    @property
    def config_specs(self) -> list[ConfigurableFieldSpec]:
        return get_unique_config_specs(spec for s in self._steps for spec in s.runnable.config_specs)

    # --- running --------------------------------------------------------------------------------------

    def _start(self, input: Any) -> dict[str, Any]:
        if not isinstance(input, Mapping):
            if len(self._inputs) != 1:
                raise ChainInputError(
                    f"recipe {self.get_name()!r} takes a dict with keys {list(self._inputs)}, "
                    f"got {type(input).__name__}"
                )
            input = {self._inputs[0]: input}
        for key in self._inputs:
            if key not in input:
                got = ", ".join(map(str, input)) or "nothing"
                raise MissingKeyError(f"recipe {self.get_name()!r} input is missing key {key!r} (got: {got})")
        for number, step in enumerate(self._steps, 1):
            if step.output_key in input:
                raise DuplicateKeyError(
                    f"recipe input key {step.output_key!r} clashes with the output of step {number} {step.name!r}"
                )
        return dict(input)

    def _step_config(self, index: int, config: RunnableConfig, run_manager: Any) -> RunnableConfig:
        return patch_config(config, callbacks=run_manager.get_child(f"step:{index + 1}"))

    def _run(self, state: dict[str, Any], stop: int, config: RunnableConfig, run_manager: Any) -> None:
        """Invoke steps ``0..stop-1`` in order, adding each output to ``state``."""
        for index, step in enumerate(self._steps[:stop]):
            started = self._trace_enter(index, [state])
            output = step.runnable.invoke(step.inputs_from(state), self._step_config(index, config, run_manager))
            state[step.output_key] = step.value(output)
            self._trace_exit(index, [state], started)

    async def _arun(self, state: dict[str, Any], stop: int, config: RunnableConfig, run_manager: Any) -> None:
        for index, step in enumerate(self._steps[:stop]):
            started = self._trace_enter(index, [state])
            output = await step.runnable.ainvoke(step.inputs_from(state), self._step_config(index, config, run_manager))
            state[step.output_key] = step.value(output)
            self._trace_exit(index, [state], started)

    def invoke(self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any) -> dict[str, Any]:
        return self._call_with_config(self._invoke, input, config)

    def _invoke(self, input: Any, run_manager: CallbackManagerForChainRun, config: RunnableConfig) -> dict[str, Any]:
        state = self._start(input)
        self._run(state, len(self._steps), config, run_manager)
        return state

    async def ainvoke(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        return await self._acall_with_config(self._ainvoke, input, config)

    async def _ainvoke(
        self, input: Any, run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig
    ) -> dict[str, Any]:
        state = self._start(input)
        await self._arun(state, len(self._steps), config, run_manager)
        return state

    def batch(
        self,
        inputs: list[dict[str, Any]],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[dict[str, Any]]:
        """Run all rows step by step: each step's ``batch`` is called once, so a local model batches them."""
        if not inputs:
            return []
        func = partial(self._batch, return_exceptions=return_exceptions)
        return self._batch_with_config(func, inputs, config, return_exceptions=return_exceptions)

    def _batch(
        self, inputs: list[Any], run_manager: list[Any], config: list[RunnableConfig], *, return_exceptions: bool
    ) -> list[Any]:
        rows = self._start_rows(inputs, return_exceptions)
        for index, step in enumerate(self._steps):
            if not (live := self._live(index, rows)):
                break
            started = self._trace_enter(index, [rows[i] for i in live])
            step_configs = [self._step_config(index, config[i], run_manager[i]) for i in live]
            outputs = step.runnable.batch(
                [step.inputs_from(rows[i]) for i in live], step_configs, return_exceptions=return_exceptions
            )
            self._store(index, rows, live, outputs, started)
        return rows

    async def abatch(
        self,
        inputs: list[dict[str, Any]],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[dict[str, Any]]:
        if not inputs:
            return []
        func = partial(self._abatch, return_exceptions=return_exceptions)
        return await self._abatch_with_config(func, inputs, config, return_exceptions=return_exceptions)

    async def _abatch(
        self, inputs: list[Any], run_manager: list[Any], config: list[RunnableConfig], *, return_exceptions: bool
    ) -> list[Any]:
        rows = self._start_rows(inputs, return_exceptions)
        for index, step in enumerate(self._steps):
            if not (live := self._live(index, rows)):
                break
            started = self._trace_enter(index, [rows[i] for i in live])
            step_configs = [self._step_config(index, config[i], run_manager[i]) for i in live]
            outputs = await step.runnable.abatch(
                [step.inputs_from(rows[i]) for i in live], step_configs, return_exceptions=return_exceptions
            )
            self._store(index, rows, live, outputs, started)
        return rows

    def _start_rows(self, inputs: list[Any], return_exceptions: bool) -> list[Any]:
        rows: list[Any] = []
        for item in inputs:
            try:
                rows.append(self._start(item))
            except RecipesError as exc:
                if not return_exceptions:
                    raise
                rows.append(exc)
        return rows

    @staticmethod
    def _live(index: int, rows: list[Any]) -> list[int]:
        """The rows that have not failed (with ``return_exceptions`` a failed row holds its exception)."""
        return [i for i, row in enumerate(rows) if not isinstance(row, Exception)]

    def _store(self, index: int, rows: list[Any], live: list[int], outputs: list[Any], started: float) -> None:
        step = self._steps[index]
        for i, output in zip(live, outputs, strict=True):
            if isinstance(output, Exception):
                rows[i] = output
            else:
                rows[i][step.output_key] = step.value(output)
        self._trace_exit(index, [rows[i] for i in live if not isinstance(rows[i], Exception)], started)

    def stream(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[dict[str, Any]]:
        """Yield the values before the last step, then the last step's output piece by piece (see class doc)."""
        yield from self._transform_stream_with_config(iter([input]), self._transform, config)

    def _transform(
        self, input: Iterator[Any], run_manager: CallbackManagerForChainRun, config: RunnableConfig
    ) -> Iterator[StateChunk]:
        state = self._start(next(input))
        last = len(self._steps) - 1
        self._run(state, last, config, run_manager)
        yield StateChunk(state)
        started, final = self._trace_enter(last, [state]), None
        for piece in self._steps[last].runnable.stream(
            self._steps[last].inputs_from(state), self._step_config(last, config, run_manager)
        ):
            value = self._steps[last].value(piece)
            final = _add(final, value)
            yield StateChunk({self.final_key: value})
        self._trace_exit(last, [{**state, self.final_key: final}], started)

    async def astream(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[dict[str, Any]]:
        async def one() -> AsyncIterator[dict[str, Any]]:
            yield input

        async for chunk in self._atransform_stream_with_config(one(), self._atransform, config):
            yield chunk

    async def _atransform(
        self, input: AsyncIterator[Any], run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig
    ) -> AsyncIterator[StateChunk]:
        state = self._start(await anext(input))
        last = len(self._steps) - 1
        await self._arun(state, last, config, run_manager)
        yield StateChunk(state)
        started, final = self._trace_enter(last, [state]), None
        step_config = self._step_config(last, config, run_manager)
        async for piece in self._steps[last].runnable.astream(self._steps[last].inputs_from(state), step_config):
            value = self._steps[last].value(piece)
            final = _add(final, value)
            yield StateChunk({self.final_key: value})
        self._trace_exit(last, [{**state, self.final_key: final}], started)

    # --- verbose trace --------------------------------------------------------------------------------

    def _trace_enter(self, index: int, rows: list[dict[str, Any]]) -> float:
        if self._verbose:
            step = self._steps[index]
            size = f" (batch of {len(rows)})" if len(rows) > 1 else ""
            lines = [f"> Entering step {index + 1}/{len(self._steps)} {step.name!r}{size}"]
            for number, row in enumerate(rows):
                prefix = f"  [{number}]" if len(rows) > 1 else " "
                keys = step.input_keys or tuple(row)
                lines += [f"{prefix} input {k}: {_short(row[k])}" for k in keys if k in row]
            self._write(lines)
        return time.perf_counter()

    def _trace_exit(self, index: int, rows: list[dict[str, Any]], started: float) -> None:
        if self._verbose:
            step = self._steps[index]
            lines = []
            for number, row in enumerate(rows):
                prefix = f"  [{number}]" if len(rows) > 1 else " "
                lines.append(f"{prefix} output {step.output_key}: {_short(row.get(step.output_key))}")
            seconds = time.perf_counter() - started
            lines.append(f"> Finished step {index + 1}/{len(self._steps)} {step.name!r} in {seconds:.2f}s")
            self._write(lines)

    def _write(self, lines: list[str]) -> None:
        file = self._file if self._file is not None else sys.stderr  # looked up late: tests swap stderr
        text = "\n".join(lines) + "\n"
        try:
            file.write(text)
        except UnicodeEncodeError:  # a terminal that cannot show Korean still gets a readable trace
            encoding = getattr(file, "encoding", None) or "ascii"
            file.write(text.encode(encoding, "backslashreplace").decode(encoding))
        file.flush()


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _TRACE_VALUE_CHARS else text[: _TRACE_VALUE_CHARS - 1] + "…"


def sequential(
    *steps: Step | tuple[Any, ...],
    inputs: Sequence[str] | str,
    verbose: bool = False,
    file: TextIO | None = None,
    name: str | None = None,
) -> SequentialRecipe:
    """Build a `SequentialRecipe`: ``sequential(Step("genres", chain), inputs=["answer"])``."""
    return SequentialRecipe(steps, inputs=inputs, verbose=verbose, file=file, name=name)

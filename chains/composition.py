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

from collections.abc import AsyncIterator, Iterator, Sequence
from functools import partial
from typing import Any, TextIO
from uuid import UUID

from langchain_core.callbacks import CallbackManagerForChainRun
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import merge_configs, patch_config, run_in_executor
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
    start_state,
)
from chains.steps import check_keys as _check_keys
from chains.steps import to_step as _as_step
from chains.trace import StepTrace, step_metadata
from core.errors import RecipesError

__all__ = [
    "ChainBuildError",
    "ChainInputError",
    "DuplicateKeyError",
    "MissingKeyError",
    "SequentialRecipe",
    "StateChunk",
    "Step",
    "StepTrace",
    "derive_input_keys",
    "sequential",
]


class SequentialRecipe(Runnable[dict[str, Any], dict[str, Any]]):
    """Steps run in order over a dict; the result holds the inputs plus every step's output.

    ``batch`` calls each step's ``batch`` once for all rows. ``stream`` runs all but the last step,
    yields one `StateChunk` with the values so far, then one ``{final_key: piece}`` chunk per piece the
    last step streams: adding the chunks up gives the ``invoke`` result. With ``verbose`` a `StepTrace`
    of every step goes to ``file`` (standard error by default). Async calls run the sync ones in a worker thread.
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
        return start_state(self.get_name(), self._inputs, self._steps, input)

    def _traced(self, config: Any) -> Any:
        """``config`` (one or a list) with a `StepTrace` added when the recipe is verbose (one for all rows)."""
        if not self._verbose:
            return config
        trace: RunnableConfig = {"callbacks": [StepTrace(self._file)]}
        if isinstance(config, list):
            return [merge_configs(c, trace) for c in config]
        return merge_configs(config, trace)

    def _step_config(
        self, index: int, config: RunnableConfig, run_manager: Any, call: UUID, row: int = 0, rows: int = 1
    ) -> RunnableConfig:
        """The step's run: a child tagged ``step:N``, marked (for `StepTrace`) with the step and the row."""
        step = self._steps[index]
        child = run_manager.get_child(f"step:{index + 1}")
        mark = step_metadata(
            index + 1, len(self._steps), step.name, step.input_keys, step.output_key, call=call, row=row, rows=rows
        )
        child.add_metadata(mark, inherit=False)  # the runs inside the step are not steps
        return patch_config(config, callbacks=child)

    def _run(self, state: dict[str, Any], stop: int, config: RunnableConfig, run_manager: Any) -> None:
        """Invoke steps ``0..stop-1`` in order, adding each output to ``state``."""
        for index, step in enumerate(self._steps[:stop]):
            output = step.runnable.invoke(
                step.inputs_from(state), self._step_config(index, config, run_manager, run_manager.run_id)
            )
            state[step.output_key] = step.value(output)

    def invoke(self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any) -> dict[str, Any]:
        return self._call_with_config(self._invoke, input, self._traced(config))

    def _invoke(self, input: Any, run_manager: CallbackManagerForChainRun, config: RunnableConfig) -> dict[str, Any]:
        state = self._start(input)
        self._run(state, len(self._steps), config, run_manager)
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
        return self._batch_with_config(func, inputs, self._traced(config), return_exceptions=return_exceptions)

    def _batch(
        self, inputs: list[Any], run_manager: list[Any], config: list[RunnableConfig], *, return_exceptions: bool
    ) -> list[Any]:
        rows = self._start_rows(inputs, return_exceptions)
        call = run_manager[0].run_id  # the trace groups the rows' step runs under the first row's run
        for index, step in enumerate(self._steps):
            # With ``return_exceptions`` a failed row holds its exception and sits out the later steps.
            if not (live := [i for i, row in enumerate(rows) if not isinstance(row, Exception)]):
                break
            step_configs = [
                self._step_config(index, config[i], run_manager[i], call, row, len(live)) for row, i in enumerate(live)
            ]
            outputs = step.runnable.batch(
                [step.inputs_from(rows[i]) for i in live], step_configs, return_exceptions=return_exceptions
            )
            for i, output in zip(live, outputs, strict=True):
                if isinstance(output, Exception):
                    rows[i] = output
                else:
                    rows[i][step.output_key] = step.value(output)
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

    def stream(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[dict[str, Any]]:
        """Yield the values before the last step, then the last step's output piece by piece (see class doc)."""
        yield from self._transform_stream_with_config(iter([input]), self._transform, self._traced(config))

    def _transform(
        self, input: Iterator[Any], run_manager: CallbackManagerForChainRun, config: RunnableConfig
    ) -> Iterator[StateChunk]:
        state = self._start(next(input))
        last = self._steps[-1]
        self._run(state, len(self._steps) - 1, config, run_manager)
        yield StateChunk(state)
        step_config = self._step_config(len(self._steps) - 1, config, run_manager, run_manager.run_id)
        for piece in last.runnable.stream(last.inputs_from(state), step_config):
            yield StateChunk({self.final_key: last.value(piece)})

    # --- async: the sync methods in a worker thread (LangChain's own default for ``ainvoke``) -------------

    async def abatch(
        self,
        inputs: list[dict[str, Any]],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[dict[str, Any]]:
        """`batch` in a worker thread, so each step's ``batch`` still gets all the rows at once."""
        return await run_in_executor(None, self.batch, inputs, config, return_exceptions=return_exceptions, **kwargs)

    async def astream(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[dict[str, Any]]:
        """`stream`, each piece fetched in a worker thread (as LangChain's `BaseLLM` streams a sync model)."""
        pieces = self.stream(input, config, **kwargs)
        done: Any = object()
        try:
            while (piece := await run_in_executor(None, next, pieces, done)) is not done:
                yield piece
        finally:
            pieces.close()  # type: ignore[attr-defined]


def sequential(
    *steps: Step | tuple[Any, ...],
    inputs: Sequence[str] | str,
    verbose: bool = False,
    file: TextIO | None = None,
    name: str | None = None,
) -> SequentialRecipe:
    """Build a `SequentialRecipe`: ``sequential(Step("genres", chain), inputs=["answer"])``."""
    return SequentialRecipe(steps, inputs=inputs, verbose=verbose, file=file, name=name)

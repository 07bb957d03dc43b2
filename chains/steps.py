"""The parts of a sequential recipe: steps, the keys they read and write, and the errors when keys don't fit.

>>> from langchain_core.prompts import PromptTemplate
>>> derive_input_keys(PromptTemplate.from_template("Movies for {genres} in {lang}"))
('genres', 'lang')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.prompts import BasePromptTemplate
from langchain_core.runnables import Runnable, RunnableSequence
from langchain_core.runnables.base import RunnableLike, coerce_to_runnable
from langchain_core.runnables.utils import AddableDict
from pydantic import BaseModel, RootModel

from core.errors import RecipesError

__all__ = [
    "ChainBuildError",
    "ChainInputError",
    "DuplicateKeyError",
    "MissingKeyError",
    "StateChunk",
    "Step",
    "add_values",
    "check_keys",
    "derive_input_keys",
    "start_state",
    "to_step",
]


class ChainBuildError(RecipesError, ValueError):
    """Steps that do not fit together into a recipe."""


class MissingKeyError(ChainBuildError):
    """A key a step needs that no input or earlier step provides (at build), or an input left out (at invoke)."""


class DuplicateKeyError(ChainBuildError):
    """Two values would share one key: two steps' outputs, or an output and an input."""


class ChainInputError(RecipesError, TypeError):
    """A recipe input that is not a dict (and the recipe has more than one input key)."""


class StateChunk(AddableDict):
    """A streamed piece of a recipe's output dict; ``+`` adds values key by key.

    Values that cannot be added (such as the cumulative dicts a JSON parser streams) are replaced
    by the newer one, as langchain-core does for its own streams.
    """

    def __add__(self, other: Mapping[str, Any]) -> StateChunk:  # type: ignore[override]
        merged = StateChunk(self)
        for key, value in other.items():
            merged[key] = add_values(merged.get(key), value)
        return merged

    def __radd__(self, other: Mapping[str, Any]) -> StateChunk:  # type: ignore[override]
        return StateChunk(other) + self


def add_values(old: Any, new: Any) -> Any:
    if old is None:
        return new
    if new is None:
        return old
    try:
        return old + new
    except TypeError:
        return new


def _classic_output_keys(runnable: Runnable[Any, Any]) -> list[str] | None:
    # A classic langchain Chain (LLMChain, ...) returns its inputs plus its outputs; the step keeps the outputs.
    keys = getattr(runnable, "output_keys", None)
    if hasattr(runnable, "input_keys") and isinstance(keys, list) and keys:
        return keys
    return None


def derive_input_keys(runnable: Runnable[Any, Any]) -> tuple[str, ...]:
    """The keys ``runnable`` needs in its input dict, as far as it declares them; ``()`` when unknown.

    A prompt template (alone or first in a sequence) needs its ``input_variables``, a classic Chain its
    ``input_keys``; anything else declares required fields in its input schema
    (``RunnableLambda(lambda d: d["x"])`` declares ``x``; a function annotated ``d: dict`` declares nothing).
    """
    first = runnable.first if isinstance(runnable, RunnableSequence) else runnable
    if isinstance(first, BasePromptTemplate):
        return tuple(first.input_variables)
    if _classic_output_keys(runnable) is not None:  # its schema marks every key optional; its chain does not
        return tuple(getattr(runnable, "input_keys", ()))
    try:
        schema = runnable.get_input_schema()
    except Exception:  # a schema is a courtesy; a runnable that cannot build one simply declares nothing
        return ()
    if not isinstance(schema, type) or not issubclass(schema, BaseModel) or issubclass(schema, RootModel):
        return ()
    return tuple(name for name, info in schema.model_fields.items() if info.is_required())


@dataclass(frozen=True, init=False)
class Step:
    """One step: ``runnable`` reads the values so far and its output is stored under ``output_key``.

    ``output_key`` defaults to ``name``. ``input_keys`` defaults to what the runnable declares (see
    `derive_input_keys`); ``()`` means unknown: the step is not checked. Functions and dicts are turned
    into Runnables as ``|`` does.
    """

    name: str
    runnable: Runnable[Any, Any]
    output_key: str
    input_keys: tuple[str, ...]
    _classic_keys: list[str] | None = field(repr=False, compare=False)
    _selects: bool = field(repr=False, compare=False)

    def __init__(
        self, name: str, runnable: RunnableLike, output_key: str = "", input_keys: Sequence[str] | None = None
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ChainBuildError(f"a step needs a non-empty name, got {name!r}")
        coerced: Runnable[Any, Any] = coerce_to_runnable(runnable)
        if input_keys is None:
            keys = derive_input_keys(coerced)
        else:
            keys = (input_keys,) if isinstance(input_keys, str) else tuple(input_keys)
        # A frozen dataclass is set up through object.__setattr__.
        for attribute, value in (
            ("name", name),
            ("runnable", coerced),
            ("output_key", output_key or name),
            ("input_keys", keys),
            ("_classic_keys", _classic_output_keys(coerced)),
            ("_selects", bool(keys) and (input_keys is not None or _starts_with_prompt(coerced))),
        ):
            object.__setattr__(self, attribute, value)

    def inputs_from(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """What the runnable is given: only its keys when they are known exactly (explicit ``input_keys``, or a
        prompt template, which refuses unexpected variables); otherwise every value so far."""
        if self._selects:
            return {key: state[key] for key in self.input_keys if key in state}
        return dict(state)

    def value(self, output: Any) -> Any:
        """The value the step stores, from what its runnable returned (or streamed)."""
        if self._classic_keys is None or not isinstance(output, Mapping):
            return output
        if len(self._classic_keys) == 1:
            return output.get(self._classic_keys[0])
        return {key: output.get(key) for key in self._classic_keys}


def _starts_with_prompt(runnable: Runnable[Any, Any]) -> bool:
    first = runnable.first if isinstance(runnable, RunnableSequence) else runnable
    return isinstance(first, BasePromptTemplate)


def to_step(item: Step | tuple[Any, ...]) -> Step:
    if isinstance(item, Step):
        return item
    if isinstance(item, tuple) and 2 <= len(item) <= 3:
        return Step(*item)
    raise ChainBuildError(f"a step must be a Step or a (name, runnable[, output_key]) tuple, got {item!r}")


def check_keys(inputs: tuple[str, ...], steps: tuple[Step, ...]) -> None:
    if not steps:
        raise ChainBuildError("a sequential recipe needs at least one step")
    if not inputs or any(not isinstance(k, str) or not k for k in inputs) or len(set(inputs)) != len(inputs):
        raise ChainBuildError(f"inputs must be distinct non-empty strings, got {list(inputs)}")
    owner = dict.fromkeys(inputs, "the recipe inputs")
    for number, step in enumerate(steps, 1):
        where = f"step {number} {step.name!r}"
        for key in step.input_keys:
            if key not in owner:
                raise MissingKeyError(
                    f"{where} needs key {key!r}, which no input or earlier step provides "
                    f"(available: {', '.join(owner)})"
                )
        if step.output_key in owner:
            raise DuplicateKeyError(f"{where} outputs key {step.output_key!r}, already set by {owner[step.output_key]}")
        owner[step.output_key] = where


def start_state(recipe: str, inputs: tuple[str, ...], steps: tuple[Step, ...], value: Any) -> dict[str, Any]:
    """A new dict of the recipe's input `value` (a bare value for a one-input recipe); typed errors when an
    input key is missing or would clash with a step's output."""
    if not isinstance(value, Mapping):
        if len(inputs) != 1:
            raise ChainInputError(
                f"recipe {recipe!r} takes a dict with keys {list(inputs)}, got {type(value).__name__}"
            )
        value = {inputs[0]: value}
    for key in inputs:
        if key not in value:
            got = ", ".join(map(str, value)) or "nothing"
            raise MissingKeyError(f"recipe {recipe!r} input is missing key {key!r} (got: {got})")
    for number, step in enumerate(steps, 1):
        if step.output_key in value:
            raise DuplicateKeyError(
                f"recipe input key {step.output_key!r} clashes with the output of step {number} {step.name!r}"
            )
    return dict(value)

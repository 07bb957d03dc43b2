"""`parse_json` and the Runnable `JsonParser`: strict about truncation, typed errors, schema, opt-in repair.

>>> parse_json('Sure! {"answer": 4} Hope that helps.')
{'answer': 4}
>>> parse_json('{"genres": ["sci-fi"', strict=False)
{'genres': ['sci-fi']}
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.messages import BaseMessage, BaseMessageChunk
from langchain_core.output_parsers import BaseCumulativeTransformOutputParser
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, Generation, GenerationChunk
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from parsers.errors import OutputParseError, SchemaValidationError, TruncatedOutputError
from parsers.extract import extract_json, partial_json
from parsers.repair import repair_json

__all__ = ["LENGTH_REASONS", "JsonParser", "finish_reason_of", "parse_json", "validate"]

LENGTH_REASONS = frozenset({"length", "max_tokens"})  # OpenAI/HF/Ollama, Anthropic/Gemini spellings


def _schema_name(schema: Any) -> str:
    return getattr(schema, "__name__", None) or str(schema)


def validate(value: Any, schema: Any, *, raw: str = "") -> Any:
    """`value` validated by a pydantic model class (or any type pydantic's TypeAdapter accepts)."""
    try:
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            return schema.model_validate(value)
        return TypeAdapter(schema).validate_python(value)
    except ValidationError as err:
        errors = [
            {"path": ".".join(str(p) for p in e["loc"]) or "(root)", "message": e["msg"], "type": e["type"]}
            for e in err.errors(include_url=False)
        ]
        shown = "; ".join(f"{e['path']}: {e['message']}" for e in errors[:3])
        more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
        raise SchemaValidationError(
            f"JSON does not match {_schema_name(schema)}: {shown}{more}", raw=raw, value=value, errors=errors
        ) from None


def parse_json(
    text: str,
    *,
    schema: Any = None,
    strict: bool = True,
    repair: bool = False,
    prompt: str | None = None,
    finish_reason: str | None = None,
) -> Any:
    """The first complete JSON value in `text` (fenced, in prose, or the whole text), optionally validated.

    strict: a cut-off value or `finish_reason` "length" raises `TruncatedOutputError` (else it is closed).
    repair: fix trailing commas, single quotes, comments and Python literals when plain JSON is not found.
    prompt: JSON inside an echo of this prompt is skipped.
    """
    if not isinstance(text, str):
        raise OutputParseError(f"expected text, got {type(text).__name__}", raw=repr(text))
    if strict and finish_reason is not None and finish_reason.lower() in LENGTH_REASONS:
        raise TruncatedOutputError(
            f"the model stopped at its token limit (finish_reason={finish_reason}); raise max_new_tokens "
            "or parse with strict=False",
            raw=text,
            partial=partial_json(text, prompt),
            finish_reason=finish_reason,
        )
    found = extract_json(text, prompt)
    if found.status == "complete":
        value = found.value
    elif found.status == "truncated" and strict:
        raise TruncatedOutputError(
            "the JSON value is cut off (strict mode does not close it)", raw=text, partial=found.value
        )
    elif found.status == "truncated" and found.value is not None:
        value = found.value
    elif repair:
        value = repair_json(text, strict=strict, prompt=prompt)
    else:
        raise OutputParseError(found.reason or "no JSON value found", raw=text)
    return value if schema is None else validate(value, schema, raw=text)


def finish_reason_of(generation: Generation) -> str | None:
    """The provider's stop reason from a generation, whatever the provider calls it."""
    if isinstance(generation, ChatGeneration):
        meta = generation.message.response_metadata or {}
    else:
        meta = generation.generation_info or {}
    for key in ("finish_reason", "stop_reason", "done_reason"):
        if isinstance(meta.get(key), str):
            return str(meta[key])
    return None


def _chunk(item: str | BaseMessage) -> GenerationChunk | ChatGenerationChunk:
    if isinstance(item, BaseMessageChunk):
        return ChatGenerationChunk(message=item)
    if isinstance(item, BaseMessage):
        return ChatGenerationChunk(message=BaseMessageChunk(**item.model_dump()))
    return GenerationChunk(text=str(item))


class JsonParser(BaseCumulativeTransformOutputParser[Any]):
    """Runnable JSON parser, `model | JsonParser()`: streams partial dicts/lists, then the checked value.

    With a `schema`, only the final validated object is streamed (partial dicts would not satisfy it).

    >>> JsonParser().invoke('```json\\n{"a": [1, 2]}\\n```')
    {'a': [1, 2]}
    """

    model_config = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True)

    schema_: Any = Field(default=None, alias="schema")
    """A pydantic model class (or type) to validate against; the result is then an instance of it."""
    strict: bool = True
    repair: bool = False
    prompt: str | None = None
    """The prompt text, so JSON inside an echo of it is skipped."""

    @property
    def _type(self) -> str:
        return "recipes_json"

    def parse_result(self, result: list[Generation], *, partial: bool = False) -> Any:
        if not result:
            raise OutputParseError("the model returned no generations")
        text = result[0].text
        if partial:
            return None if self.schema_ is not None else partial_json(text, self.prompt)
        return parse_json(
            text,
            schema=self.schema_,
            strict=self.strict,
            repair=self.repair,
            prompt=self.prompt,
            finish_reason=finish_reason_of(result[0]),
        )

    def parse(self, text: str) -> Any:
        return self.parse_result([Generation(text=text)])

    # LangChain's cumulative parser never parses the finished stream strictly, so a cut-off stream would
    # end on a silently closed partial; these re-implement it and add that final strict parse.
    def _transform(self, input: Iterator[str | BaseMessage]) -> Iterator[Any]:
        acc: GenerationChunk | ChatGenerationChunk | None = None
        prev: Any = None
        for item in input:
            acc = _chunk(item) if acc is None else acc + _chunk(item)  # type: ignore[operator]
            parsed = self.parse_result([acc], partial=True)
            if parsed is not None and parsed != prev:
                yield parsed
                prev = parsed
        final = self.parse_result([acc if acc is not None else Generation(text="")])
        if final != prev:
            yield final

    async def _atransform(self, input: AsyncIterator[str | BaseMessage]) -> AsyncIterator[Any]:
        acc: GenerationChunk | ChatGenerationChunk | None = None
        prev: Any = None
        async for item in input:
            acc = _chunk(item) if acc is None else acc + _chunk(item)  # type: ignore[operator]
            parsed = self.parse_result([acc], partial=True)
            if parsed is not None and parsed != prev:
                yield parsed
                prev = parsed
        final = self.parse_result([acc if acc is not None else Generation(text="")])
        if final != prev:
            yield final

    def get_format_instructions(self) -> str:
        if self.schema_ is None:
            return "Answer with one JSON value only, no prose."
        schema = TypeAdapter(self.schema_).json_schema()
        return f"Answer with one JSON value only, no prose, matching this JSON schema: {json.dumps(schema)}"

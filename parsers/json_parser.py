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
from langchain_core.outputs import ChatGenerationChunk, Generation, GenerationChunk
from langchain_core.outputs.chat_generation import merge_chat_generation_chunks
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from parsers.errors import OutputParseError, SchemaValidationError, TruncatedOutputError
from parsers.extract import extract_json, partial_json
from parsers.repair import MAX_REPAIR_CHARS, repair_json
from parsers.stream import PartialStream
from parsers.text import finish_reason_of, first_generation

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
    allow_nan: bool = False,
    max_repair_chars: int = MAX_REPAIR_CHARS,
) -> Any:
    """The first complete JSON value in `text` (fenced, in prose, or the whole text), optionally validated.

    A value is returned only if its JSON text is complete and well-formed: never a fragment nested inside a
    broken or cut-off outer value, never a lone surrogate, never NaN/Infinity/an overflowing number.

    strict: a cut-off value or `finish_reason` "length" raises `TruncatedOutputError` (else it is closed).
    repair: fix the whole answer (trailing or missing commas, single quotes, comments, Python literals, bare
    keys) when plain JSON is not found; outputs longer than `max_repair_chars` are refused.
    prompt: JSON inside an echo of this prompt is skipped.
    allow_nan: accept NaN, Infinity, -Infinity and numbers that overflow to infinity.
    """
    if not isinstance(text, str):
        raise OutputParseError(f"expected text, got {type(text).__name__}", raw=repr(text))
    if strict and finish_reason is not None and finish_reason.lower() in LENGTH_REASONS:
        raise TruncatedOutputError(
            f"the model stopped at its token limit (finish_reason={finish_reason}); raise max_new_tokens "
            "or parse with strict=False",
            raw=text,
            partial=partial_json(text, prompt, allow_nan=allow_nan),
            finish_reason=finish_reason,
        )
    found = extract_json(text, prompt, allow_nan=allow_nan)
    if found.status == "complete":
        value = found.value
    elif found.status == "truncated" and strict:
        raise TruncatedOutputError(
            "the JSON value is cut off (strict mode does not close it)", raw=text, partial=found.value
        )
    elif found.status == "truncated" and found.value is not None:
        value = found.value
    elif repair:
        try:
            value = repair_json(text, strict=strict, prompt=prompt, allow_nan=allow_nan, max_chars=max_repair_chars)
        except OutputParseError as err:
            if found.status == "invalid" and err.reason == "no JSON object or array found":
                raise OutputParseError(found.reason, raw=text) from None  # e.g. a refused whole-text number
            raise
    else:
        raise OutputParseError(found.reason or "no JSON value found", raw=text)
    return value if schema is None else validate(value, schema, raw=text)


def _chunk(item: str | BaseMessage) -> GenerationChunk | ChatGenerationChunk:
    if isinstance(item, BaseMessageChunk):
        return ChatGenerationChunk(message=item)
    if isinstance(item, BaseMessage):
        return ChatGenerationChunk(message=BaseMessageChunk(**item.model_dump()))
    return GenerationChunk(text=str(item))


def _merged(chunks: list[GenerationChunk | ChatGenerationChunk]) -> Generation:
    """The chunks added up in one go (adding them one by one copies the growing text every time)."""
    if not chunks:
        return Generation(text="")
    if all(isinstance(c, ChatGenerationChunk) for c in chunks):
        merged = merge_chat_generation_chunks(chunks)  # type: ignore[arg-type]
        assert merged is not None
        return merged
    if not any(isinstance(c, ChatGenerationChunk) for c in chunks):
        info = GenerationChunk(text="")
        for chunk in chunks:
            if chunk.generation_info:
                info = info + GenerationChunk(text="", generation_info=chunk.generation_info)
        return GenerationChunk(text="".join(c.text for c in chunks), generation_info=info.generation_info)
    acc: Any = chunks[0]
    for chunk in chunks[1:]:
        acc = acc + chunk
    return acc  # type: ignore[no-any-return]


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
    allow_nan: bool = False
    """Accept NaN, Infinity and numbers that overflow to infinity."""
    max_repair_chars: int = MAX_REPAIR_CHARS
    """With `repair`, longer outputs are refused (repair is linear, but a cap keeps it bounded)."""

    @property
    def _type(self) -> str:
        return "recipes_json"

    def parse_result(self, result: list[Generation], *, partial: bool = False) -> Any:
        generation = first_generation(result)
        text = generation.text
        if partial:
            return None if self.schema_ is not None else partial_json(text, self.prompt, allow_nan=self.allow_nan)
        return parse_json(
            text,
            schema=self.schema_,
            strict=self.strict,
            repair=self.repair,
            prompt=self.prompt,
            finish_reason=finish_reason_of(generation),
            allow_nan=self.allow_nan,
            max_repair_chars=self.max_repair_chars,
        )

    def parse(self, text: str) -> Any:
        return self.parse_result([Generation(text=text)])

    # LangChain's cumulative parser re-parses the whole reply at every chunk (quadratic) and never parses the
    # finished stream strictly, so a cut-off stream would end on a silently closed partial. `_Streaming` keeps a
    # `PartialStream` (each character scanned about once), adds the chunks up once at the end, and ends with
    # the strict parse of the whole reply; the sync and async loops only feed it.
    def _transform(self, input: Iterator[str | BaseMessage]) -> Iterator[Any]:
        streaming = _Streaming(self)
        for item in input:
            yield from streaming.feed(item)
        yield from streaming.end()

    async def _atransform(self, input: AsyncIterator[str | BaseMessage]) -> AsyncIterator[Any]:
        streaming = _Streaming(self)
        async for item in input:
            for value in streaming.feed(item):
                yield value
        for value in streaming.end():
            yield value

    def get_format_instructions(self) -> str:
        if self.schema_ is None:
            return "Answer with one JSON value only, no prose."
        schema = TypeAdapter(self.schema_).json_schema()
        return f"Answer with one JSON value only, no prose, matching this JSON schema: {json.dumps(schema)}"


class _Streaming:
    """One streamed reply: what `JsonParser` yields as each chunk arrives, and at the end."""

    def __init__(self, parser: JsonParser) -> None:
        self._parser = parser
        self._chunks: list[GenerationChunk | ChatGenerationChunk] = []
        self._stream = None if parser.schema_ is not None else PartialStream(parser.prompt, allow_nan=parser.allow_nan)
        self._last: Any = None

    def _new(self, parsed: Any) -> list[Any]:
        """`[parsed]` if it differs from the value yielded last, else nothing."""
        if parsed is None or parsed is self._last or parsed == self._last:
            return []
        self._last = parsed
        return [parsed]

    def feed(self, item: str | BaseMessage) -> list[Any]:
        self._chunks.append(_chunk(item))
        return [] if self._stream is None else self._new(self._stream.feed(self._chunks[-1].text))

    def end(self) -> list[Any]:
        """The latest partial (if the rate limit held it back), then the strict parse of the whole reply."""
        out = [] if self._stream is None else self._new(self._stream.flush())
        final = self._parser.parse_result([_merged(self._chunks)])
        return [*out, final] if final != self._last else out

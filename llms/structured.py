"""Structured output: answers that parse and validate, by grammar-constrained decoding on local models.

For ``local`` and ``hf:`` models the schema becomes an llguidance grammar applied inside `generate`
(`llms.grammar`), so every output is schema-valid JSON, even from a random model; other models get the schema in
a system message, our parser (`llms.structured_parse`), and a re-ask.

>>> from pydantic import BaseModel
>>> from llms import load_model
>>> class Answer(BaseModel):
...     answer: int
>>> constrained(load_model("fake:{\\"answer\\": 4}"), Answer).invoke("2+2?")
Answer(answer=4)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import BaseMessage, SystemMessage, convert_to_messages
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough
from pydantic import BaseModel, Field, create_model

from llms.capabilities import capabilities_of
from llms.grammar import DEFAULT_LIMITS, Limits, json_grammar, json_object_schema, json_schema_of
from llms.structured_parse import StructuredParser, format_instructions, parse_structured, schema_errors
from parsers import with_reask

__all__ = [
    "STRUCTURED_METHODS",
    "StructuredParser",
    "choice_schema",
    "choices_type",
    "constrained",
    "format_instructions",
    "json_schema_of",
    "parse_structured",
    "schema_errors",
    "structured_output",
]


# -- the Runnables ----------------------------------------------------------------------------------------------
def _with_system(text: str) -> Runnable[Any, list[BaseMessage]]:
    def add(value: Any) -> list[BaseMessage]:
        if isinstance(value, PromptValue):
            messages = list(value.to_messages())
        elif isinstance(value, str | BaseMessage):
            messages = list(convert_to_messages([value]))
        else:
            messages = list(convert_to_messages(value))
        if messages and isinstance(messages[0], SystemMessage):
            return [SystemMessage(f"{messages[0].text}\n\n{text}"), *messages[1:]]
        return [SystemMessage(text), *messages]

    return RunnableLambda(add, name="add_format_instructions")


def _with_raw(model: Runnable[Any, Any], parser: Runnable[Any, Any]) -> Runnable[Any, dict[str, Any]]:
    # LangChain's include_raw contract; a lambda rather than RunnableMap keeps `.batch` one batched call.
    parse = RunnablePassthrough.assign(parsed=lambda d: parser.invoke(d["raw"]), parsing_error=lambda _: None)
    keep = RunnablePassthrough.assign(parsed=lambda _: None)
    wrap: Runnable[Any, dict[str, Any]] = RunnableLambda(lambda raw: {"raw": raw}, name="raw")
    return model | wrap | parse.with_fallbacks([keep], exception_key="parsing_error")


def _schema_name(schema: dict[str, Any]) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]", "_", str(schema.get("title") or "answer"))
    return name[:64] or "answer"


def _response_format(json_schema: dict[str, Any] | None, strict: bool | None) -> dict[str, Any]:
    if json_schema is None:
        return {"type": "json_object"}
    spec: dict[str, Any] = {"name": _schema_name(json_schema), "schema": json_schema}
    if strict is not None:
        spec["strict"] = strict
    return {"type": "json_schema", "json_schema": spec}


def constrained(
    model: Runnable[Any, Any],
    schema: Any,
    *,
    include_raw: bool = False,
    limits: Limits | None = DEFAULT_LIMITS,
    max_attempts: int = 3,
    json_mode: bool = False,
    strict: bool | None = None,
    method: str = "json_schema",
) -> Runnable[LanguageModelInput, Any]:
    """`model` answering with `schema` (pydantic class, type, JSON-schema dict, or None for any JSON object);
    returns an instance / dict. What happens depends on what the model says it can do (`capabilities_of`):

    - grammar decoding (local engines): decoding constrained to `schema`, `limits` added to the grammar only
      (see `llms.grammar.Limits`); ``schema=None`` or `json_mode` without a schema: any JSON object, bounded.
    - JSON mode (OpenAI-compatible servers): `response_format` (the schema, or JSON mode) and the schema in a
      system message; `StructuredParser` validates, a failed parse is re-asked, `max_attempts` calls at most.
    - anything else (the fake): the same without `response_format`.
    include_raw: return ``{"raw": message, "parsed": value or None, "parsing_error": error or None}`` instead.
    """
    caps = capabilities_of(model)
    parser = StructuredParser(schema=schema)
    json_schema = json_schema_of(schema) if schema is not None else None
    tracing = {"ls_structured_output_format": {"kwargs": {"method": method, "strict": strict}, "schema": schema}}
    traced = model.bind(**tracing) if schema is not None else model
    if caps.grammar:
        grammar = json_grammar(json_schema, limits) if json_schema is not None else json_grammar(json_object_schema())
        bound = traced.bind(json_schema=grammar)
        return _with_raw(bound, parser) if include_raw else bound | parser
    if caps.json_mode:
        # Servers that ignore response_format (transformers serve) still get the schema in the prompt, our parser
        # and re-asks.
        traced = traced.bind(response_format=_response_format(None if json_mode else json_schema, strict))
    prompted = _with_system(format_instructions(schema)) | traced
    if include_raw:
        return _with_raw(prompted, parser)
    return with_reask(prompted, parser, max_attempts) | RunnableLambda(lambda result: result.value, name="value")


STRUCTURED_METHODS = ("json_schema", "function_calling", "json_mode", "grammar")


def structured_output(
    model: Runnable[Any, Any],
    schema: Any = None,
    *,
    include_raw: bool = False,
    method: str = "json_schema",
    strict: bool | None = None,
    max_attempts: int = 3,
    **kwargs: Any,
) -> Runnable[LanguageModelInput, Any]:
    """`with_structured_output` for every backend of ours (see `constrained` for what each does).

    method: "json_schema" (default), "function_calling" (an alias: our models have no tools), "grammar" (an alias),
    or "json_mode" (a JSON object; validated against `schema` when given, which local models also decode to).
    """
    if kwargs:
        raise TypeError(f"unknown with_structured_output option(s): {', '.join(sorted(kwargs))}")
    if method not in STRUCTURED_METHODS:
        raise ValueError(f"unknown method {method!r}: use one of {', '.join(STRUCTURED_METHODS)}")
    if schema is None and method != "json_mode":
        raise ValueError(f"method={method!r} needs a schema (or use method='json_mode')")
    return constrained(
        model,
        schema,
        include_raw=include_raw,
        max_attempts=max_attempts,
        json_mode=method == "json_mode",
        strict=strict,
        method=method,
    )


# -- fixed choices ----------------------------------------------------------------------------------------------
def choices_type(choices: Sequence[str]) -> Any:
    """A `Literal` of `choices` (a JSON-schema enum) for pydantic fields: ``list[choices_type(genres)]``."""
    unique = tuple(dict.fromkeys(choices))
    if not unique or not all(isinstance(c, str) for c in unique):
        raise ValueError("choices must be a non-empty list of strings")
    return Literal[unique]


def choice_schema(
    name: str,
    choices: Sequence[str],
    *,
    field: str = "choice",
    many: bool = False,
    max_items: int | None = None,
    description: str | None = None,
) -> type[BaseModel]:
    """A pydantic model with one field holding one of `choices` (or with `many`, a list of 1..max_items).

    >>> Pick = choice_schema("Pick", ["horror", "comedy"], field="genres", many=True, max_items=2)
    >>> Pick(genres=["comedy"]).genres
    ['comedy']
    """
    kind = choices_type(choices)
    if many:
        limit = max_items or len(set(choices))
        spec = (list[kind], Field(min_length=1, max_length=limit, description=description))  # type: ignore[valid-type]
    else:
        spec = (kind, Field(description=description))
    return create_model(name, **{field: spec})  # type: ignore[call-overload,no-any-return]

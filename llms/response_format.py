"""OpenAI's `response_format` (and our `json_schema=`) as a grammar for local engines.

The same chain works on both backends: ``prompt | model.bind(response_format={"type": "json_object"}) | parser``.

>>> grammar_from_options(None, {"type": "json_schema", "json_schema": {"schema": {"type": "object"}}}).schema["type"]
'object'
>>> grammar_from_options(None, {"type": "text"}) is None
True
"""

from __future__ import annotations

from typing import Any

from llms.grammar import GrammarError, JsonGrammar, grammar_for, json_grammar, json_object_schema, json_schema_of

__all__ = ["grammar_from_options", "grammar_from_response_format"]


def grammar_from_response_format(response_format: Any) -> JsonGrammar | None:
    """``{"type": "json_object"}`` -> any JSON object (bounded: it always closes); ``{"type": "json_schema",
    "json_schema": {"schema": ...}}`` -> that schema; ``{"type": "text"}`` -> None; a pydantic class -> its schema."""
    if response_format is None:
        return None
    if not isinstance(response_format, dict):
        return json_grammar(json_schema_of(response_format))  # langchain-openai also takes a pydantic class here
    kind = response_format.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return json_grammar(json_object_schema())
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise GrammarError('response_format json_schema needs {"json_schema": {"schema": {...}}}')
        return json_grammar(schema)
    raise GrammarError(f"unknown response_format type {kind!r}: use 'text', 'json_object' or 'json_schema'")


def grammar_from_options(json_schema: Any, response_format: Any) -> JsonGrammar | None:
    """The grammar for one call: `json_schema` (a pydantic class, dict or compiled grammar) wins over
    `response_format`."""
    if json_schema is not None:
        return grammar_for(json_schema)
    return grammar_from_response_format(response_format)

"""JSON schema -> bounded schema -> llguidance grammar (pure Python: no torch; the processor that applies a grammar
inside `generate` lives in `llms.grammar_processor`).

>>> grammar = json_grammar({"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]})
>>> grammar.schema["additionalProperties"]
False
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from llguidance import LLMatcher
from pydantic import BaseModel, TypeAdapter

from llms.errors import RecipesError

__all__ = ["DEFAULT_LIMITS", "GrammarError", "JsonGrammar", "Limits", "bound_schema", "grammar_for", "json_grammar",
           "json_object_schema", "json_schema_of"]


class GrammarError(RecipesError, ValueError):
    """A schema the grammar engine cannot compile, or a tokenizer it cannot use."""


@dataclass(frozen=True)
class Limits:
    """Bounds added to the *grammar* (never to validation) where the schema sets none.

    A grammar whose set of outputs is finite always ends: with `max_new_tokens` above its longest output, even
    a random model closes the object. Real models rarely reach these; they cut off loops (a list repeating
    one title) so the answer still closes. Pass `Limits(string_chars=None, ...)` to leave a kind unbounded.
    """

    string_chars: int | None = 256
    array_items: int | None = 32
    integer_abs: int | None = 2**53 - 1  # the largest integer every JSON reader keeps exactly
    number_abs: float | None = 1e15
    closed_objects: bool = True  # objects with `properties` get `additionalProperties: false` if unspecified


DEFAULT_LIMITS = Limits()

# Keywords whose value is one sub-schema, a list of them, or a name -> sub-schema mapping.
_ONE = ("items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames")
_LIST = ("anyOf", "oneOf", "allOf", "prefixItems")
_MAP = ("properties", "patternProperties", "$defs", "definitions")


def _types(node: dict[str, Any]) -> set[str]:
    kind = node.get("type")
    found = set(kind) if isinstance(kind, list) else {kind} if isinstance(kind, str) else set()
    if "properties" in node:
        found.add("object")
    return found


def _bound(node: Any, limits: Limits) -> Any:
    if not isinstance(node, dict):
        return node
    out = dict(node)
    for key in _ONE:
        if isinstance(node.get(key), dict):
            out[key] = _bound(node[key], limits)
    for key in _LIST:
        if isinstance(node.get(key), list):
            out[key] = [_bound(x, limits) for x in node[key]]
    for key in _MAP:
        if isinstance(node.get(key), dict):
            out[key] = {name: _bound(sub, limits) for name, sub in node[key].items()}
    if "enum" in node or "const" in node:
        return out
    kinds = _types(node)
    if "string" in kinds and "maxLength" not in node and limits.string_chars is not None:
        out["maxLength"] = max(limits.string_chars, node.get("minLength", 0))
    if "array" in kinds and "maxItems" not in node and limits.array_items is not None:
        out["maxItems"] = max(limits.array_items, node.get("minItems", 0))
    for kind, bound in (("integer", limits.integer_abs), ("number", limits.number_abs)):
        if kind in kinds and bound is not None:
            if "minimum" not in node and "exclusiveMinimum" not in node:
                out["minimum"] = -bound
            if "maximum" not in node and "exclusiveMaximum" not in node:
                out["maximum"] = bound
    if "properties" in node and "additionalProperties" not in node and limits.closed_objects:
        out["additionalProperties"] = False
    return out


def bound_schema(schema: dict[str, Any], limits: Limits | None = DEFAULT_LIMITS) -> dict[str, Any]:
    """A copy of `schema` with `limits` added where it sets no bound (the input is not changed)."""
    return copy.deepcopy(schema) if limits is None else _bound(copy.deepcopy(schema), limits)


@dataclass(frozen=True)
class JsonGrammar:
    """A compiled llguidance grammar and the (bounded) JSON schema it came from."""

    schema: dict[str, Any]
    grammar: str = field(repr=False)


@lru_cache(maxsize=128)
def _compile(schema_json: str) -> str:
    try:
        # No whitespace between tokens: strings are compact JSON and cannot hold raw newlines or tabs.
        grammar = LLMatcher.grammar_from_json_schema(schema_json, overrides={"whitespace_flexible": False})
    except ValueError as err:
        raise GrammarError(f"not a JSON schema: {err}") from None
    is_error, messages = LLMatcher.validate_grammar_with_warnings(grammar)
    if is_error:
        raise GrammarError(f"the grammar engine cannot use this schema: {messages[0].splitlines()[0][:200]}")
    return grammar


def json_grammar(schema: dict[str, Any], limits: Limits | None = DEFAULT_LIMITS) -> JsonGrammar:
    """Compile a JSON schema (bounded by `limits`) once; raises `GrammarError` for what llguidance rejects."""
    if not isinstance(schema, dict):
        raise GrammarError(f"a JSON schema must be a dict, got {type(schema).__name__}")
    bounded = bound_schema(schema, limits)
    return JsonGrammar(bounded, _compile(json.dumps(bounded, sort_keys=False, ensure_ascii=False)))


# A key of a free-form object: any JSON string content up to 32 characters (Korean included).
_KEY_PATTERN = '^[^"\\\\\\x00-\\x1f]{1,32}$'


def json_object_schema(depth: int = 3, keys: int = 16, limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """"Any JSON object", bounded so a grammar over it always closes: at most `depth` levels of nesting,
    `keys` keys per object (and items per array), strings of `limits.string_chars`.

    Unbounded JSON mode let a model nest without end (measured ``{"setup":{"setup":...`` to the token limit).
    """
    scalar: dict[str, Any] = {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}, {"type": "null"}]}
    value = scalar
    for _ in range(depth - 1):
        value = {
            "anyOf": [
                scalar,
                {"type": "array", "items": value, "maxItems": keys},
                {"type": "object", "patternProperties": {_KEY_PATTERN: value}, "additionalProperties": False,
                 "maxProperties": keys},
            ]
        }
    root = {"type": "object", "patternProperties": {_KEY_PATTERN: value}, "additionalProperties": False,
            "maxProperties": keys}
    return bound_schema(root, limits)


def json_schema_of(schema: Any) -> dict[str, Any]:
    """The JSON schema of a pydantic (v2 or v1) model class, a type pydantic knows (`list[int]`, a TypedDict),
    or a JSON-schema dict."""
    if isinstance(schema, dict):
        return schema
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return schema.model_json_schema()
    if _is_pydantic_v1(schema):
        return schema.schema()  # type: ignore[no-any-return]
    try:
        return TypeAdapter(schema).json_schema()
    except Exception as err:  # pydantic raises several kinds for non-types
        raise TypeError(f"not a schema: {schema!r} ({type(err).__name__})") from None


def _is_pydantic_v1(schema: Any) -> bool:
    try:
        from pydantic import v1
    except ImportError:  # pragma: no cover - pydantic 2 always ships it
        return False
    return isinstance(schema, type) and issubclass(schema, v1.BaseModel)


def grammar_for(schema: Any) -> JsonGrammar:
    """A bound `json_schema=` value as a grammar: a `JsonGrammar` as is, else compiled with the default limits."""
    return schema if isinstance(schema, JsonGrammar) else json_grammar(json_schema_of(schema))

"""Parsing structured answers: strict JSON, validated by pydantic or by `jsonschema` (for JSON-schema dicts).

>>> schema_errors({"items": [{"price": "1"}]}, {"properties": {"items": {"items": {"properties": {
...     "price": {"type": "number"}}}}}})
[{'path': 'items.0.price', 'message': "'1' is not of type 'number'"}]
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator, SchemaError, ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from langchain_core.output_parsers import BaseOutputParser
from langchain_core.outputs import Generation
from pydantic import ConfigDict, Field

from core.text import one_line
from llms.grammar import GrammarError, _is_pydantic_v1, json_schema_of
from parsers import SchemaValidationError, TruncatedOutputError, parse_json, partial_json, validate
from parsers.json_parser import LENGTH_REASONS, finish_reason_of

__all__ = ["TRUNCATED_HINT", "StructuredParser", "format_instructions", "parse_structured", "schema_errors"]

TRUNCATED_HINT = (
    "the model reached its token limit before the JSON value was complete; raise max_new_tokens "
    "or bound the schema (maxLength, maxItems, minimum/maximum)"
)
_SHOWN = 3  # errors named in the one-line message; all of them are on the exception


# -- validation of JSON-schema dicts (pydantic validates the other kinds) ---------------------------------------
@lru_cache(maxsize=64)
def _validator(schema_json: str) -> Validator:
    schema = json.loads(schema_json)
    cls = validator_for(schema, default=Draft202012Validator)  # pydantic writes 2020-12 (`$defs`)
    try:
        cls.check_schema(schema)
    except SchemaError as err:
        raise GrammarError(f"not a JSON schema: {one_line(err.message, 200)}") from None
    return cls(schema)  # type: ignore[no-any-return]


def _rows(err: ValidationError) -> list[dict[str, str]]:
    """jsonschema's error as path/message rows; a missing or an extra field is named in the path."""
    where = [str(p) for p in err.absolute_path]
    instance, spec = err.instance, err.schema if isinstance(err.schema, dict) else {}
    if err.validator == "required" and isinstance(instance, dict):
        missing = [n for n in err.validator_value if n not in instance]
        return [{"path": ".".join([*where, str(n)]), "message": "field required"} for n in missing]
    if err.validator == "additionalProperties" and isinstance(instance, dict):
        known, patterns = spec.get("properties", {}), spec.get("patternProperties", {})
        extra = [k for k in instance if k not in known and not any(re.search(p, k) for p in patterns)]
        return [{"path": ".".join([*where, str(k)]), "message": "extra field not allowed"} for k in extra]
    return [{"path": ".".join(where) or "(root)", "message": one_line(err.message, 200)}]


def schema_errors(value: Any, schema: Any) -> list[dict[str, str]]:
    """Where `value` breaks the JSON-schema dict `schema`: ``{"path": "items.0.price", "message": ...}`` rows
    (`jsonschema`, draft 2020-12 unless the schema's ``$schema`` names another; "(root)" for the value itself)."""
    validator = _validator(json.dumps(schema, ensure_ascii=False))
    rows = [row for err in validator.iter_errors(value) for row in _rows(err)]
    return list({(r["path"], r["message"]): r for r in rows}.values())  # one row per missing field, not per keyword


def _mismatch(name: str, errors: list[dict[str, str]], text: str, value: Any) -> SchemaValidationError:
    shown = "; ".join(f"{e['path']}: {e['message']}" for e in errors[:_SHOWN])
    more = f" (+{len(errors) - _SHOWN} more)" if len(errors) > _SHOWN else ""
    return SchemaValidationError(f"JSON does not match {name}: {shown}{more}", raw=text, value=value, errors=errors)


# -- parsing ----------------------------------------------------------------------------------------------------
def parse_structured(text: str, schema: Any = None, *, finish_reason: str | None = None) -> Any:
    """Strictly parse the JSON in `text` and validate it: a pydantic model gives an instance, a dict schema a dict.

    Output cut off at the token limit raises `TruncatedOutputError` (never half an object); a complete object or
    array that happens to end exactly at the limit is accepted.
    """
    at_limit = finish_reason is not None and finish_reason.lower() in LENGTH_REASONS
    try:
        value = parse_json(text, strict=True)
    except TruncatedOutputError as err:
        raise TruncatedOutputError(TRUNCATED_HINT, raw=text, partial=err.partial, finish_reason=finish_reason) from None
    if at_limit and not isinstance(value, dict | list):  # a number or string cut at the limit looks complete
        raise TruncatedOutputError(TRUNCATED_HINT, raw=text, partial=partial_json(text), finish_reason=finish_reason)
    if schema is None:
        return value
    if _is_pydantic_v1(schema):
        return _validate_v1(value, schema, text)
    if not isinstance(schema, dict):
        return validate(value, schema, raw=text)
    errors = schema_errors(value, schema)
    if errors:
        raise _mismatch(str(schema.get("title", "the schema")), errors, text, value)
    return value


def _validate_v1(value: Any, schema: Any, text: str) -> Any:
    from pydantic import v1

    try:
        return schema.parse_obj(value)
    except v1.ValidationError as err:
        errors = [{"path": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in err.errors()]
        raise _mismatch(schema.__name__, errors, text, value) from None


class StructuredParser(BaseOutputParser[Any]):
    """Runnable parser for `model | StructuredParser(schema=Movie)`: strict JSON, validated, typed errors.

    >>> StructuredParser(schema={"type": "object", "required": ["a"]}).invoke('{"a": [1, 2]}')
    {'a': [1, 2]}
    """

    model_config = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True)

    schema_: Any = Field(default=None, alias="schema")
    """A pydantic model class, a type pydantic knows, a JSON-schema dict, or None (any JSON)."""

    @property
    def _type(self) -> str:
        return "recipes_structured"

    def parse_result(self, result: list[Generation], *, partial: bool = False) -> Any:
        text = result[0].text if result else ""
        reason = finish_reason_of(result[0]) if result else None
        try:
            return parse_structured(text, self.schema_, finish_reason=reason)
        except Exception:
            if result:  # a cached answer the schema rejects must not be served again (llms.cache)
                from llms.cache import evict_rejected

                evict_rejected(result[0])
            raise

    def parse(self, text: str) -> Any:
        return parse_structured(text, self.schema_)

    def get_format_instructions(self) -> str:
        return format_instructions(self.schema_)


def format_instructions(schema: Any = None) -> str:
    """A system-message text asking for JSON only (matching `schema` when given), for models without grammars."""
    if schema is None:
        return "Answer with one JSON object only, no prose."
    compact = json.dumps(json_schema_of(schema), ensure_ascii=False, separators=(",", ":"))
    return f"Answer with one JSON object only, no prose, matching this JSON schema: {compact}"

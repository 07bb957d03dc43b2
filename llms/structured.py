"""Structured output: answers that parse and validate, by grammar-constrained decoding on local models.

For ``local`` and ``hf:`` models the schema becomes an llguidance grammar applied inside `generate`
(`llms.grammar`), so every output is schema-valid JSON, even from a random model; other models get the schema in
a system message, our parser, and a re-ask.

>>> from pydantic import BaseModel
>>> from llms import load_model
>>> class Answer(BaseModel):
...     answer: int
>>> constrained(load_model("fake:{\\"answer\\": 4}"), Answer).invoke("2+2?")
Answer(answer=4)
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Literal

from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import BaseMessage, SystemMessage, convert_to_messages
from langchain_core.output_parsers import BaseOutputParser
from langchain_core.outputs import Generation
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough
from pydantic import BaseModel, ConfigDict, Field, create_model

from llms.capabilities import capabilities_of
from llms.grammar import DEFAULT_LIMITS, Limits, _is_pydantic_v1, json_grammar, json_object_schema, json_schema_of
from parsers import SchemaValidationError, TruncatedOutputError, parse_json, partial_json, validate, with_reask
from parsers.json_parser import LENGTH_REASONS, finish_reason_of

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

TRUNCATED_HINT = (
    "the model reached its token limit before the JSON value was complete; raise max_new_tokens "
    "or bound the schema (maxLength, maxItems, minimum/maximum)"
)


# -- validation of JSON-schema dicts (pydantic validates the other kinds) ---------------------------------------
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,), "array": (list,), "string": (str,), "boolean": (bool,), "null": (type(None),),
    "integer": (int,), "number": (int, float),
}


def _is_type(value: Any, kind: str) -> bool:
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    if kind == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _JSON_TYPES.get(kind, (object,)))


def _resolve(ref: str, root: dict[str, Any]) -> dict[str, Any]:
    node: Any = root
    for part in ref.removeprefix("#").strip("/").split("/") if ref != "#" else []:
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node  # type: ignore[no-any-return]


def schema_errors(value: Any, schema: Any, root: Any = None, path: str = "(root)") -> list[dict[str, str]]:
    """Where `value` breaks `schema` (the common JSON-schema keywords; unknown ones are ignored)."""
    root = schema if root is None else root
    if schema is True or not isinstance(schema, dict):
        return [] if schema is not False else [{"path": path, "message": "no value allowed here"}]
    if "$ref" in schema:
        return schema_errors(value, _resolve(schema["$ref"], root), root, path)
    errs: list[dict[str, str]] = []

    def bad(message: str, where: str = path) -> None:
        errs.append({"path": where, "message": message})

    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else kinds
    if kinds and not any(_is_type(value, k) for k in kinds):
        return [{"path": path, "message": f"expected {' or '.join(kinds)}"}]
    if "enum" in schema and value not in schema["enum"]:
        bad(f"not one of {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        bad(f"must be {schema['const']!r}")
    for key in ("anyOf", "oneOf"):
        if key in schema and not any(not schema_errors(value, s, root, path) for s in schema[key]):
            bad(f"matches none of {key}")
    for sub in schema.get("allOf", []):
        errs += schema_errors(value, sub, root, path)
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", len(value)):
            bad("string length out of bounds")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            bad(f"does not match {schema['pattern']!r}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < schema.get("minimum", value) or value > schema.get("maximum", value):
            bad("number out of bounds")
        if value <= schema.get("exclusiveMinimum", value - 1) or value >= schema.get("exclusiveMaximum", value + 1):
            bad("number out of bounds")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", len(value)):
            bad("number of items out of bounds")
        prefix = schema.get("prefixItems", [])
        for i, item in enumerate(value):
            sub = prefix[i] if i < len(prefix) else schema.get("items", True)
            errs += schema_errors(item, sub, root, f"{path}.{i}" if path != "(root)" else str(i))
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                bad("field required", f"{path}.{name}" if path != "(root)" else name)
        for name, item in value.items():
            where = f"{path}.{name}" if path != "(root)" else str(name)
            sub = props.get(name, schema.get("additionalProperties", True))
            errs += schema_errors(item, sub, root, where) if sub is not False else [
                {"path": where, "message": "extra field not allowed"}
            ]
    return errs


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
        shown = "; ".join(f"{e['path']}: {e['message']}" for e in errors[:3])
        more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
        name = schema.get("title", "the schema")
        raise SchemaValidationError(f"JSON does not match {name}: {shown}{more}", raw=text, value=value, errors=errors)
    return value


def _validate_v1(value: Any, schema: Any, text: str) -> Any:
    from pydantic import v1

    try:
        return schema.parse_obj(value)
    except v1.ValidationError as err:
        errors = [{"path": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in err.errors()]
        shown = "; ".join(f"{e['path']}: {e['message']}" for e in errors[:3])
        raise SchemaValidationError(
            f"JSON does not match {schema.__name__}: {shown}", raw=text, value=value, errors=errors
        ) from None


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

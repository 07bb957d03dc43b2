"""Grammar-constrained decoding with llguidance: JSON schema -> grammar -> a batched transformers LogitsProcessor.

Each row of a batch gets its own `llguidance.LLMatcher`; before every token the processor sets the scores of
tokens the row's grammar forbids to -inf, so the text can only be JSON matching the schema, and end-of-sequence
is allowed only once the value is complete (after the last ``}`` it is the only choice).

>>> grammar = json_grammar({"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]})
>>> grammar.schema["additionalProperties"]
False
"""

from __future__ import annotations

import copy
import json
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import torch
from llguidance import LLMatcher, LLTokenizer
from pydantic import BaseModel, TypeAdapter
from transformers import LogitsProcessor, PreTrainedTokenizerBase

from llms.errors import RecipesError

__all__ = ["DEFAULT_LIMITS", "GrammarError", "JsonGrammar", "JsonSchemaProcessor", "Limits", "bound_schema",
           "grammar_for", "grammar_processor", "json_grammar", "json_schema_of", "ll_tokenizer"]


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


def json_schema_of(schema: Any) -> dict[str, Any]:
    """The JSON schema of a pydantic model class, a type pydantic knows (`list[int]`, a TypedDict), or a dict."""
    if isinstance(schema, dict):
        return schema
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return schema.model_json_schema()
    try:
        return TypeAdapter(schema).json_schema()
    except Exception as err:  # pydantic raises several kinds for non-types
        raise TypeError(f"not a schema: {schema!r} ({type(err).__name__})") from None


def grammar_for(schema: Any) -> JsonGrammar:
    """A bound `json_schema=` value as a grammar: a `JsonGrammar` as is, else compiled with the default limits."""
    return schema if isinstance(schema, JsonGrammar) else json_grammar(json_schema_of(schema))


# Converting a tokenizer for llguidance takes ~0.5 s: keep one per (tokenizer, logits width, eos ids).
_TOKENIZERS: weakref.WeakKeyDictionary[Any, dict[tuple[int, tuple[int, ...]], LLTokenizer]] = (
    weakref.WeakKeyDictionary()
)
_TOKENIZERS_LOCK = threading.Lock()


def ll_tokenizer(tokenizer: PreTrainedTokenizerBase, n_vocab: int, eos_ids: Sequence[int]) -> LLTokenizer:
    """llguidance's view of a fast HF tokenizer, for logits `n_vocab` wide (may exceed `len(tokenizer)`)."""
    import llguidance.hf

    key = (n_vocab, tuple(sorted(eos_ids)))
    with _TOKENIZERS_LOCK:
        cached = _TOKENIZERS.setdefault(tokenizer, {})
        if key not in cached:
            if not key[1]:
                raise GrammarError("constrained decoding needs an end-of-sequence token; the tokenizer has none")
            try:
                cached[key] = llguidance.hf.from_tokenizer(tokenizer, n_vocab=n_vocab, eos_token=list(key[1]))  # type: ignore[arg-type]
            except ValueError as err:
                raise GrammarError(f"llguidance cannot use this tokenizer: {err}") from None
        return cached[key]


class JsonSchemaProcessor(LogitsProcessor):
    """Masks each row's scores to what its own `LLMatcher` allows; make a new one per `generate` call.

    Rows may be left-padded (the prompt is never fed to the matcher) and may finish early: a matcher that has
    taken end-of-sequence is left alone and its row only allows end-of-sequence (transformers pads it anyway).
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, grammar: JsonGrammar, eos_ids: Sequence[int]) -> None:
        self.tokenizer = tokenizer
        self.grammar = grammar
        self.eos_ids = list(eos_ids)
        self.matchers: list[LLMatcher] = []
        self._length = 0  # input length at the previous step
        self._mask = torch.empty(0, dtype=torch.int32)
        self._bits = torch.arange(32, dtype=torch.int32)

    def _start(self, rows: int, width: int) -> None:
        lltok = ll_tokenizer(self.tokenizer, width, self.eos_ids)
        self.matchers = [LLMatcher(lltok, self.grammar.grammar, log_level=0) for _ in range(rows)]
        for matcher in self.matchers:
            if matcher.is_error():
                raise GrammarError(f"the grammar engine rejected the schema: {matcher.get_error()[:200]}")
        self._mask = torch.full((rows, (width + 31) // 32), -1, dtype=torch.int32)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        rows, width = scores.shape
        if not self.matchers:
            self._start(rows, width)
        elif input_ids.shape[1] != self._length + 1 or rows != len(self.matchers):
            # Reused for a second generate call, its matchers would take the new prompt's last token as output.
            raise RuntimeError("a JsonSchemaProcessor serves one generate call; make a new one per call")
        else:
            for row, matcher in enumerate(self.matchers):
                if not matcher.is_stopped():
                    matcher.consume_token(int(input_ids[row, -1]))
        self._length = input_ids.shape[1]
        for row, matcher in enumerate(self.matchers):
            matcher.unsafe_compute_mask_ptr(self._mask[row].data_ptr(), self._mask.shape[1] * 4)
        # Unpack 32 tokens per int32 word; llguidance's own helper uses torch.compile (13 s on first use).
        allowed = ((self._mask.unsqueeze(-1) >> self._bits) & 1).view(rows, -1)[:, :width].bool()
        return scores.masked_fill(~allowed, float("-inf"))  # type: ignore[return-value]


def grammar_processor(engine: Any, schema: Any) -> JsonSchemaProcessor:
    """A fresh processor for one `engine.generate` call (`engine` is an `llms.hf_engine.HFEngine`)."""
    return JsonSchemaProcessor(engine.tokenizer, grammar_for(schema), sorted(engine.eos_ids))

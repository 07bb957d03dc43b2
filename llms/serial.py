"""Any value a chain passes around, as plain JSON: for the run history, cassettes and cache keys.

Deterministic (no memory addresses): an object we do not know becomes ``"<TypeName>"``; a dataclass keeps only the
fields it shows in its repr (a compiled grammar keeps its schema, not the grammar text).

>>> from langchain_core.messages import HumanMessage
>>> to_jsonable({"q": HumanMessage("hi"), "n": (1, 2)})
{'q': {'role': 'human', 'content': 'hi'}, 'n': [1, 2]}
>>> canonical({"b": 1, "a": [1.0, None]})
'{"a":[1.0,null],"b":1}'
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.outputs import Generation
from langchain_core.prompt_values import PromptValue
from pydantic import BaseModel

__all__ = ["canonical", "message_rows", "to_jsonable"]

_MAX_DEPTH = 24


def _text(value: str, max_chars: int | None) -> str:
    if max_chars is None or len(value) <= max_chars:
        return value
    return value[:max_chars] + f"... [{len(value) - max_chars} more characters]"


def to_jsonable(obj: Any, max_chars: int | None = None, _depth: int = 0) -> Any:
    """`obj` as JSON-ready values; strings longer than `max_chars` are cut (with a note saying how much)."""

    def again(value: Any) -> Any:
        return to_jsonable(value, max_chars, _depth + 1)

    if _depth > _MAX_DEPTH:
        return "<too deep>"
    if obj is None or isinstance(obj, bool | int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else str(obj)
    if isinstance(obj, str):
        return _text(obj, max_chars)
    if isinstance(obj, BaseMessage):
        return {"role": obj.type, "content": again(obj.content)}
    if isinstance(obj, PromptValue):
        return [again(m) for m in obj.to_messages()]
    if isinstance(obj, Generation):
        return {"text": _text(obj.text, max_chars)}
    if isinstance(obj, type):
        return f"{obj.__module__}.{obj.__qualname__}"
    if isinstance(obj, BaseModel):
        try:
            return again(obj.model_dump(mode="json"))
        except Exception:
            return f"<{type(obj).__name__}>"
    if dataclasses.is_dataclass(obj):
        return {f.name: again(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.repr}
    if isinstance(obj, Mapping):
        return {str(k): again(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [again(v) for v in obj]
    if isinstance(obj, set | frozenset):
        return sorted((again(v) for v in obj), key=repr)
    if isinstance(obj, bytes):
        return f"<{len(obj)} bytes>"
    return f"<{type(obj).__name__}>"


def canonical(obj: Any) -> str:
    """One stable JSON text for `obj` (sorted keys, no spaces): what keys are hashed from."""
    return json.dumps(to_jsonable(obj), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def message_rows(messages: Any) -> list[dict[str, Any]]:
    """Chat messages (or a prompt string) as ``[{"role", "content"}]``, text content only."""
    if isinstance(messages, str):
        return [{"role": "prompt", "content": messages}]
    rows = []
    for m in messages:
        if isinstance(m, BaseMessage):
            rows.append({"role": m.type, "content": m.text})
        else:
            rows.append({"role": "unknown", "content": str(m)})
    return rows

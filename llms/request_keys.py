"""Request keys: what a model call asks (messages, stop strings, generation options), as JSON and as a hash.

Keys leave out the model's name, engine, device or dtype: the same chain asks the same thing again whatever runs
it, so replay (`llms.replay`) answers by key, not by order.

>>> request_key([("human", "hi")], None, {}) == request_key([("human", "hi")], [], {"seed": None})
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from langchain_core.messages import BaseMessage

from llms.serial import canonical, message_rows, to_jsonable

__all__ = ["IDENTITY_OPTIONS", "SPEC_KEY", "key_of", "model_defaults", "request", "request_key", "tag_model"]

# What a call's invocation params say about which model runs, not about what it is asked: left out of keys.
IDENTITY_OPTIONS = frozenset({
    "_type", "model", "model_name", "engine", "device", "dtype", "stream", "streaming", "n",
    "ls_structured_output_format", "structured_output_format", "cassette",
})
SPEC_KEY = "recipes_spec"


def _pairs(messages: Any) -> list[dict[str, Any]]:
    if isinstance(messages, str):
        return message_rows(messages)
    rows = []
    for m in messages:
        if isinstance(m, BaseMessage):
            rows.append({"role": m.type, "content": m.text})
        else:  # ("role", "text") tuples, for tests and hand-written cassettes
            rows.append({"role": str(m[0]), "content": str(m[1])})
    return rows


def _options(options: dict[str, Any]) -> dict[str, Any]:
    return {k: to_jsonable(v) for k, v in sorted(options.items()) if k not in IDENTITY_OPTIONS and k != "stop"
            and v is not None}


def request(
    messages: Any, stop: Iterable[str] | None, options: dict[str, Any], model: str | None = None
) -> dict[str, Any]:
    """What is asked, as JSON: messages (role, text), stop strings, generation options, and which of the run's
    models is asked when it was tagged (`tag_model`): judge asks two models the same question."""
    asked = {"messages": _pairs(messages), "stop": list(stop or []), "options": _options(options)}
    return {**asked, "model": model} if model else asked


def request_key(messages: Any, stop: Iterable[str] | None, options: dict[str, Any], model: str | None = None) -> str:
    """The key replay answers by: a hash of `request(...)`."""
    return key_of(request(messages, stop, options, model))


def key_of(asked: dict[str, Any]) -> str:
    """The key of a request already built by `request`."""
    return hashlib.sha256(canonical(asked).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def tag_model(model: Any, spec: str) -> Any:
    """Name `model` (inside any `.bind` wrappers) in its callback metadata, so recordings and the run history say
    which of a run's models made a call (``metadata["recipes_spec"]``); returns `model`."""
    from llms.capabilities import unwrap

    inner = unwrap(model)
    if hasattr(inner, "metadata"):
        inner.metadata = {**(inner.metadata or {}), SPEC_KEY: spec}
    return model


def model_defaults(model: Any) -> dict[str, Any]:
    """A model's own generation settings as LangChain reports them in every call's invocation params (OpenAI's
    temperature, ...): replay adds them back, so keys match. Empty for our local models and the fake."""
    from llms.capabilities import unwrap

    inner = unwrap(model)
    params = getattr(inner, "asdict", None) or getattr(inner, "dict", None)
    try:
        found = params() if callable(params) else {}
    except Exception:
        found = {}
    return _options(dict(found))

"""What a model can do, asked of the model itself (never by class name), through any `.bind(...)` wrappers.

>>> from llms import load_model
>>> capabilities_of(load_model("fake:hi").bind(stop=["x"])).grammar
False
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import RunnableBinding

from llms.providers import option_fields

__all__ = ["ModelCapabilities", "capabilities_of", "unwrap"]


@dataclass(frozen=True)
class ModelCapabilities:
    """A model's answers to the questions recipes ask: grammar decoding, JSON mode, the token-limit option."""

    backend: str = "other"  # "local", "openai", "fake", "other"
    grammar: bool = False  # constrains decoding to a JSON schema inside the model's own loop
    json_mode: bool = False  # takes OpenAI's `response_format` (the server may still ignore it)
    max_tokens_option: str | None = None  # the per-call option that caps the answer's length
    length_field: str | None = None  # other LangChain models: the field that caps it (set on a copy, not per call)
    engine: str | None = None  # local engines: "transformers" / "onnxruntime"
    url: str | None = None  # servers: the base URL


def unwrap(model: Any) -> Any:
    """The model inside any number of `.bind(...)` / `.with_config(...)` wrappers."""
    while isinstance(model, RunnableBinding):
        model = model.bound
    return model




def capabilities_of(model: Any) -> ModelCapabilities:
    """The model's own `capabilities` (ours all have one); for another LangChain chat model, what its declared
    fields say (its length option); none for other Runnables."""
    inner = unwrap(model)
    caps = getattr(inner, "capabilities", None)
    if isinstance(caps, ModelCapabilities):
        return caps
    fields = getattr(type(inner), "model_fields", {})
    # Other LangChain chat models (llms.providers) declare their length option as a field; the first one found wins.
    length = next((f for f in option_fields("max_new_tokens") if f in fields), None)
    # Not a per-call option: integrations differ there (ChatOllama hands per-call kwargs to its client, which fails).
    return ModelCapabilities(length_field=length)


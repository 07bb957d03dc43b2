"""Cap the answer length of any model the same way, whatever the backend calls the option."""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import Runnable

from llms.capabilities import capabilities_of

__all__ = ["with_max_tokens"]


def with_max_tokens(model: Runnable[Any, Any], n: int) -> Runnable[Any, Any]:
    """`model` bound to answer at most `n` tokens, by the option the model says it takes (``max_new_tokens``
    locally, ``max_tokens`` on OpenAI); another LangChain chat model gets a copy with its length field set
    (``num_predict`` on Ollama); a model with neither (the fake) is returned as it is. `model` is unchanged."""
    caps = capabilities_of(model)
    if caps.max_tokens_option:
        return model.bind(**{caps.max_tokens_option: n})
    if caps.length_field and hasattr(model, "model_copy"):
        return model.model_copy(update={caps.length_field: n})  # type: ignore[no-any-return]
    return model

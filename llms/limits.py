"""Cap the answer length of any model the same way, whatever the backend calls the option."""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import Runnable

__all__ = ["with_max_tokens"]


def with_max_tokens(model: Runnable[Any, Any], n: int) -> Runnable[Any, Any]:
    """`model` bound to answer at most `n` tokens: local models take ``max_new_tokens``, OpenAI ``max_tokens``;
    others (the fake) are returned as they are. A new Runnable: `model` itself is not changed."""
    names = {cls.__name__ for cls in type(model).__mro__}
    if "LocalChatModel" in names or "LocalLLM" in names:
        return model.bind(max_new_tokens=n)
    if "BaseChatOpenAI" in names or "BaseOpenAI" in names:
        return model.bind(max_tokens=n)
    return model

"""The seed's zero-, one- and few-shot translation (English -> French), one recipe per mode.

>>> from llms import load_model
>>> translate(load_model("fake:loutre de mer"), mode="few").invoke({"word": "sea otter"})
'loutre de mer'
"""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.language_models import BaseChatModel, BaseLLM
from langchain_core.output_parsers import StrOutputParser
from langchain_core.runnables import Runnable, RunnableLambda

__all__ = ["MODES", "Mode", "first_line", "translate", "translate_all"]

Mode = Literal["zero", "one", "few"]
MODES: tuple[Mode, ...] = ("zero", "one", "few")


def first_line(text: str) -> str:
    """The first non-empty line: the examples teach one answer per line, and small models keep going."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _prompt(mode: Mode, lang: str) -> Any:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    from prompts import get

    return get(f"translate_{mode}_shot", lang=lang)


def translate(model: BaseChatModel | BaseLLM, mode: Mode = "few", lang: str = "en") -> Runnable[dict[str, str], str]:
    """``prompt | model | StrOutputParser() | first line``; input ``{"word": ...}``."""
    return _prompt(mode, lang) | model | StrOutputParser() | RunnableLambda(first_line)  # type: ignore[operator]


def translate_all(model: BaseChatModel | BaseLLM, lang: str = "en") -> Runnable[dict[str, str], dict[str, str]]:
    """All three modes for one word, as ``{"zero": ..., "one": ..., "few": ...}``, in one batched model call."""
    answer = model | StrOutputParser() | RunnableLambda(first_line)

    def run(inputs: dict[str, str]) -> dict[str, str]:
        prompts = [_prompt(mode, lang).invoke(inputs) for mode in MODES]
        return dict(zip(MODES, answer.batch(prompts), strict=True))

    return RunnableLambda(run, name="translate_all")

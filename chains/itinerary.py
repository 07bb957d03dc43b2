"""The seed's first recipe, "Describe a perfect day in {city}?", in both styles.

>>> from llms import load_model
>>> perfect_day(load_model("fake:Sunny.")).invoke({"city": "Paris"})
'Sunny.'
"""

from __future__ import annotations

import warnings
from typing import Any

from langchain_core.language_models import BaseChatModel, BaseLLM
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import PromptTemplate
from langchain_core.runnables import Runnable

from chains.language import detect_language

__all__ = ["perfect_day", "perfect_day_classic", "perfect_day_prompt"]


def perfect_day_prompt(lang: str = "en") -> PromptTemplate:
    """The prompt from the prompt library, in English or Korean."""
    from prompts import get

    return get("perfect_day", lang=lang)  # type: ignore[return-value]


def perfect_day(model: BaseChatModel | BaseLLM, lang: str = "en") -> Runnable[dict[str, Any], str]:
    """LCEL: ``prompt | model | StrOutputParser()``; input ``{"city": ...}``."""
    return perfect_day_prompt(lang) | model | StrOutputParser()  # type: ignore[operator]


def perfect_day_classic(llm: BaseLLM | BaseChatModel, lang: str = "en") -> Any:
    """The classic `LLMChain` (langchain-classic), as course material writes it; output key ``text``."""
    from langchain_classic.chains import LLMChain
    from langchain_core._api import LangChainDeprecationWarning

    # LLMChain is deprecated upstream; we offer it on purpose (course material uses it), so no warning here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LangChainDeprecationWarning)
        return LLMChain(llm=llm, prompt=perfect_day_prompt(lang))


def language_of(city: str) -> str:
    """Answer in Korean when the city is written in Korean."""
    return detect_language(city)

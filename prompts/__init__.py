"""Reusable prompt templates kept as TOML data, loaded into LangChain templates (f-string only, checked).

>>> import prompts
>>> prompts.get("translate_few_shot").format(word="cheese").splitlines()[-1]
'cheese =>'
"""

from __future__ import annotations

from langchain_core.prompts import BasePromptTemplate

from prompts.errors import (
    PromptError,
    PromptFileError,
    PromptNotFoundError,
    PromptPathError,
    TemplateSecurityError,
    TemplateVariableError,
)
from prompts.library import PromptInfo, PromptLibrary, builtin, load_dir
from prompts.paths import resolve_inside
from prompts.spec import PromptSpec, parse_spec
from prompts.strict import StrictChatPromptTemplate, StrictFewShotPromptTemplate, StrictPromptTemplate

__all__ = [
    "PromptError",
    "PromptFileError",
    "PromptInfo",
    "PromptLibrary",
    "PromptNotFoundError",
    "PromptPathError",
    "PromptSpec",
    "StrictChatPromptTemplate",
    "StrictFewShotPromptTemplate",
    "StrictPromptTemplate",
    "TemplateSecurityError",
    "TemplateVariableError",
    "builtin",
    "get",
    "info",
    "languages",
    "load_dir",
    "names",
    "parse_spec",
    "resolve_inside",
]


def get(name: str, lang: str = "en") -> BasePromptTemplate:
    """A new LangChain template for the built-in prompt `name` in `lang` ("en" or "ko")."""
    return builtin().get(name, lang)


def names(lang: str | None = None) -> list[str]:
    """The built-in prompt names, optionally only those available in `lang`."""
    return builtin().names(lang)


def languages(name: str) -> list[str]:
    """The languages the built-in prompt `name` is available in."""
    return builtin().languages(name)


def info(name: str, lang: str = "en") -> PromptInfo:
    """Metadata and template text of the built-in prompt `name` in `lang`."""
    return builtin().info(name, lang)

"""LangChain templates that refuse missing *and unexpected* variables with one clear typed error.

Why subclasses: stock templates raise a bare KeyError (or a multi-line message) for a missing variable and
silently ignore extra ones, which hides typos like ``{"qestion": ...}``. These override only the public
entry points (format/format_messages, their async twins, invoke/ainvoke); everything else is LangChain's.

>>> t = StrictPromptTemplate(template="Hi {name}", input_variables=["name"], name="hi")
>>> t.format(name="Ann")
'Hi Ann'
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.prompt_values import PromptValue
from langchain_core.prompts import (
    BasePromptTemplate,
    ChatPromptTemplate,
    FewShotPromptTemplate,
    PromptTemplate,
)
from langchain_core.runnables import RunnableConfig

from prompts.errors import TemplateVariableError

__all__ = ["StrictChatPromptTemplate", "StrictFewShotPromptTemplate", "StrictPromptTemplate", "check_inputs"]


def check_inputs(template: BasePromptTemplate, given: Iterable[str]) -> None:
    """Raise `TemplateVariableError` naming any missing or unexpected variable."""
    keys = set(given)
    allowed = set(template.input_variables) | set(template.partial_variables)
    allowed |= set(template.optional_variables)
    label = template.name or type(template).__name__
    if missing := sorted(set(template.input_variables) - keys - set(template.partial_variables)):
        raise TemplateVariableError(f"prompt '{label}' is missing variable(s): {', '.join(missing)}")
    if extra := sorted(keys - allowed):
        expected = ", ".join(sorted(template.input_variables)) or "none"
        raise TemplateVariableError(
            f"prompt '{label}' got unexpected variable(s): {', '.join(extra)} (expected: {expected})"
        )


def _check_invoke_input(template: BasePromptTemplate, value: Any) -> None:
    # Non-dict input is LangChain's one-variable shorthand; it checks that case itself.
    if isinstance(value, dict):
        check_inputs(template, value)


class _CheckedInvoke:
    """`invoke`/`ainvoke` that check a dict input first; mixed in before the LangChain template class."""

    def invoke(self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any) -> PromptValue:
        _check_invoke_input(self, input)  # type: ignore[arg-type]
        return super().invoke(input, config, **kwargs)  # type: ignore[misc]

    async def ainvoke(self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any) -> PromptValue:
        _check_invoke_input(self, input)  # type: ignore[arg-type]
        return await super().ainvoke(input, config, **kwargs)  # type: ignore[misc]


class _CheckedFormat(_CheckedInvoke):
    """`format`/`aformat` too, for string templates."""

    def format(self, **kwargs: Any) -> str:
        check_inputs(self, kwargs)  # type: ignore[arg-type]
        return super().format(**kwargs)  # type: ignore[misc]

    async def aformat(self, **kwargs: Any) -> str:
        check_inputs(self, kwargs)  # type: ignore[arg-type]
        return await super().aformat(**kwargs)  # type: ignore[misc]


class StrictPromptTemplate(_CheckedFormat, PromptTemplate):
    """`PromptTemplate` that names missing and unexpected variables."""


class StrictFewShotPromptTemplate(_CheckedFormat, FewShotPromptTemplate):
    """`FewShotPromptTemplate` that names missing and unexpected variables."""


class StrictChatPromptTemplate(_CheckedInvoke, ChatPromptTemplate):
    """`ChatPromptTemplate` that names missing and unexpected variables."""

    def format_messages(self, **kwargs: Any) -> list[BaseMessage]:
        check_inputs(self, kwargs)
        return super().format_messages(**kwargs)

    async def aformat_messages(self, **kwargs: Any) -> list[BaseMessage]:
        check_inputs(self, kwargs)
        return await super().aformat_messages(**kwargs)

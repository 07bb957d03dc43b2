"""Turn a checked `PromptSpec` into a LangChain template (a fresh object each call: callers may mutate it).

>>> from prompts.spec import parse_spec
>>> spec = parse_spec({"name": "hi", "description": "Greets.", "language": "en", "kind": "text",
...                    "variables": ["who"], "body": "Hello {who}!"}, source="demo")
>>> build(spec).format(who="Ann")
'Hello Ann!'
"""

from __future__ import annotations

from typing import Any

from langchain_core.prompts import BasePromptTemplate, PromptTemplate

from prompts.spec import PromptSpec
from prompts.strict import StrictChatPromptTemplate, StrictFewShotPromptTemplate, StrictPromptTemplate

__all__ = ["build"]


def build(spec: PromptSpec) -> BasePromptTemplate:
    """A `PromptTemplate`, `ChatPromptTemplate` or `FewShotPromptTemplate` for `spec` (f-string only)."""
    common: dict[str, Any] = {
        "name": spec.name,
        "input_variables": list(spec.variables),
        "metadata": {"prompt_name": spec.name, "prompt_language": spec.language},
    }
    if spec.kind == "chat":
        messages: list[Any] = [(m.role, m.content) for m in spec.messages]  # LangChain converts the tuples
        # template_format defaults to f-string; each message becomes an f-string PromptTemplate.
        return StrictChatPromptTemplate(messages=messages, **common)
    if spec.kind == "few-shot":
        fields = sorted(spec.examples[0]) if spec.examples else []
        return StrictFewShotPromptTemplate(
            examples=[dict(e) for e in spec.examples],
            example_prompt=PromptTemplate(template=spec.example_prompt, input_variables=fields),
            prefix=spec.prefix,
            suffix=spec.body,
            example_separator=spec.example_separator,
            template_format="f-string",
            **common,
        )
    return StrictPromptTemplate(template=spec.body, template_format="f-string", **common)

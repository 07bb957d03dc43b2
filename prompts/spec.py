"""A prompt data file, parsed and checked: the whole safety check happens here, at load time.

>>> spec = parse_spec({"name": "hi", "description": "Greets.", "language": "en", "kind": "text",
...                    "variables": ["who"], "body": "Hello {who}!"}, source="demo")
>>> spec.variables
('who',)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from prompts.errors import PromptFileError, TemplateSecurityError, TemplateVariableError
from prompts.safety import check_format, placeholders

__all__ = ["KINDS", "ROLES", "Message", "PromptSpec", "parse_spec", "template_text"]

KINDS = ("text", "chat", "few-shot")
ROLES = ("system", "human", "ai")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_LANGUAGE = re.compile(r"[a-z]{2,3}")
_KEYS = {
    "text": {"body"},
    "chat": {"messages"},
    "few-shot": {"body", "prefix", "example_prompt", "examples", "example_separator"},
}
_COMMON = {"name", "description", "language", "kind", "variables", "template_format"}
# Names a template variable cannot have: `self` collides with the format methods' own first argument, and
# LangChain reserves `stop` for the model call.
RESERVED_VARIABLES = ("self", "stop")


@dataclass(frozen=True)
class Message:
    """One chat message template: role is system, human or ai."""

    role: str
    content: str


@dataclass(frozen=True)
class PromptSpec:
    """A checked prompt: for few-shot, `body` is the part after the examples (LangChain's suffix)."""

    name: str
    description: str
    language: str
    kind: str
    variables: tuple[str, ...]
    body: str = ""
    messages: tuple[Message, ...] = ()
    prefix: str = ""
    example_prompt: str = ""
    examples: tuple[Mapping[str, str], ...] = ()
    example_separator: str = "\n"
    source: str = ""


def _str(data: Mapping[str, Any], key: str, where: str, *, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise PromptFileError(f"{where}: '{key}' must be a string")
    return value


def _table_list(data: Mapping[str, Any], key: str, where: str) -> list[Mapping[str, Any]]:
    value = data.get(key)
    if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
        raise PromptFileError(f"{where}: '{key}' must be a non-empty array of tables ([[{key}]])")
    return value


def _messages(data: Mapping[str, Any], where: str) -> tuple[Message, ...]:
    out = []
    for i, item in enumerate(_table_list(data, "messages", where), 1):
        role, content = item.get("role"), item.get("content")
        if role not in ROLES or not isinstance(content, str) or set(item) != {"role", "content"}:
            raise PromptFileError(f"{where}: message {i} needs exactly role (one of {ROLES}) and content")
        out.append(Message(role, content))
    return tuple(out)


def _examples(data: Mapping[str, Any], where: str) -> tuple[Mapping[str, str], ...]:
    out = []
    for i, item in enumerate(_table_list(data, "examples", where), 1):
        if not all(isinstance(v, str) for v in item.values()):
            raise PromptFileError(f"{where}: example {i} values must be strings")
        out.append(MappingProxyType(dict(item)))
    return tuple(out)


def _render_examples(spec: PromptSpec, where: str) -> list[str]:
    fields = placeholders(spec.example_prompt, where=f"{where} example_prompt")
    rendered = []
    for i, example in enumerate(spec.examples, 1):
        if set(example) != fields:
            raise TemplateVariableError(
                f"{where}: example {i} keys {sorted(example)} must match example_prompt's {sorted(fields)}"
            )
        # Values are substituted literally here, but LangChain re-reads the assembled text as a template.
        text = spec.example_prompt.format(**example)
        if placeholders(text, where=f"{where} example {i}"):
            raise TemplateSecurityError(f"{where}: example {i} contains braces; write literal braces as {{{{ }}}}")
        rendered.append(text)
    return rendered


def _where(spec: PromptSpec) -> str:
    return f"prompt '{spec.name}' ({spec.language})"


def template_text(spec: PromptSpec) -> str:
    """The template as one text with its `{placeholders}`: chat messages as `role: content` lines."""
    if spec.kind == "chat":
        return "\n".join(f"{m.role}: {m.content}" for m in spec.messages)
    if spec.kind == "few-shot":
        pieces = [spec.prefix, *_render_examples(spec, _where(spec)), spec.body]
        return spec.example_separator.join(p for p in pieces if p)
    return spec.body


def _check_variables(spec: PromptSpec) -> None:
    where = _where(spec)
    if spec.kind == "chat":
        used: set[str] = set()
        for i, m in enumerate(spec.messages, 1):
            used |= placeholders(m.content, where=f"{where} message {i}")
    else:
        used = placeholders(template_text(spec), where=where)
    declared = set(spec.variables)
    if undeclared := sorted(used - declared):
        raise TemplateVariableError(f"{where}: placeholder {{{undeclared[0]}}} is not listed in 'variables'")
    if unused := sorted(declared - used):
        raise TemplateVariableError(f"{where}: variable '{unused[0]}' is declared but not used in the template")


def parse_spec(data: Mapping[str, Any], *, source: str) -> PromptSpec:
    """Check one parsed TOML document and return its `PromptSpec`; raise a typed error naming the problem."""
    check_format(_str(data, "template_format", source, default="f-string"), where=source)
    kind = data.get("kind")
    if kind not in KINDS:
        raise PromptFileError(f"{source}: 'kind' must be one of {KINDS}, got {kind!r}")
    if unknown := sorted(set(data) - _COMMON - _KEYS[kind]):
        raise PromptFileError(f"{source}: unknown key '{unknown[0]}' for kind '{kind}'")
    name, language = _str(data, "name", source), _str(data, "language", source)
    if not _NAME.fullmatch(name) or not _LANGUAGE.fullmatch(language):
        raise PromptFileError(f"{source}: bad name {name!r} or language {language!r} (e.g. 'en', 'ko')")
    where = f"prompt '{name}' ({language})"
    variables = data.get("variables", [])
    if not isinstance(variables, list) or not all(isinstance(v, str) for v in variables):
        raise PromptFileError(f"{where}: 'variables' must be an array of names")
    if len(set(variables)) != len(variables):
        raise TemplateVariableError(f"{where}: 'variables' lists a name twice")
    if reserved := sorted(set(variables) & set(RESERVED_VARIABLES)):
        raise TemplateVariableError(f"{source}: variable name '{reserved[0]}' is reserved; rename it")
    spec = PromptSpec(
        name=name,
        description=_str(data, "description", where),
        language=language,
        kind=kind,
        variables=tuple(variables),
        body=_str(data, "body", where) if kind != "chat" else "",
        messages=_messages(data, where) if kind == "chat" else (),
        prefix=_str(data, "prefix", where, default="") if kind == "few-shot" else "",
        example_prompt=_str(data, "example_prompt", where) if kind == "few-shot" else "",
        examples=_examples(data, where) if kind == "few-shot" else (),
        example_separator=_str(data, "example_separator", where, default="\n") if kind == "few-shot" else "\n",
        source=source,
    )
    _check_variables(spec)
    return spec

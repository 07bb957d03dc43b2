"""Unsafe or malformed template text is refused when the prompt is loaded, with a clear one-line error."""

from __future__ import annotations

from typing import Any

import pytest

from prompts import PromptError, TemplateSecurityError, TemplateVariableError, parse_spec
from prompts.safety import placeholders


def text_spec(body: str, variables: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "name": "t",
        "description": "test",
        "language": "en",
        "kind": "text",
        "variables": variables,
        "body": body,
        **extra,
    }


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        ("Hi {x.__class__}", "{x.__class__}"),
        ("Hi {x.__class__.__init__.__globals__}", "{x.__class__.__init__.__globals__}"),
        ("Hi {x[0]}", "{x[0]}"),
        ("Hi {x:{y}}", "{x:{y}}"),
        ("Hi {x!r}", "{x!r}"),
        ("Hi {x:>10}", "{x:>10}"),
        ("Hi {0}", "{0}"),
        ("Hi {}", "{}"),
        ("Hi { x }", "{ x }"),
    ],
)
def test_unsafe_placeholders_are_refused_at_load(body: str, shown: str) -> None:
    with pytest.raises(TemplateSecurityError) as info:
        parse_spec(text_spec(body, ["x"]), source="t.toml")
    message = str(info.value)
    assert shown in message
    assert "{{" in message  # says how to write literal braces
    assert "\n" not in message


@pytest.mark.parametrize("body", ['Return {"answer": 1}', "Return {answer", "Return answer}"])
def test_literal_braces_error_says_to_double_them(body: str) -> None:
    with pytest.raises(TemplateSecurityError, match=r"write literal braces as \{\{ and \}\}"):
        parse_spec(text_spec(body, []), source="t.toml")


def test_doubled_braces_are_literal_text() -> None:
    from prompts.build import build

    spec = parse_spec(text_spec('Return {{"answer": 1}} for {q}', ["q"]), source="t.toml")
    assert build(spec).format(q="2+2") == 'Return {"answer": 1} for 2+2'


@pytest.mark.parametrize("fmt", ["jinja2", "mustache", "python"])
def test_non_fstring_formats_are_refused(fmt: str) -> None:
    with pytest.raises(TemplateSecurityError, match=f"'{fmt}' is refused"):
        parse_spec(text_spec("Hi {{ x }}", [], template_format=fmt), source="t.toml")


def test_explicit_fstring_format_is_accepted() -> None:
    spec = parse_spec(text_spec("Hi {x}", ["x"], template_format="f-string"), source="t.toml")
    assert spec.variables == ("x",)


def test_undeclared_placeholder_is_named() -> None:
    with pytest.raises(TemplateVariableError, match=r"\{city\} is not listed"):
        parse_spec(text_spec("Hi {name} from {city}", ["name"]), source="t.toml")


def test_declared_but_unused_variable_is_named() -> None:
    with pytest.raises(TemplateVariableError, match="'extra' is declared but not used"):
        parse_spec(text_spec("Hi {name}", ["name", "extra"]), source="t.toml")


def test_chat_message_placeholders_are_checked_too() -> None:
    data = {
        "name": "c",
        "description": "d",
        "language": "ko",
        "kind": "chat",
        "variables": ["q"],
        "messages": [{"role": "system", "content": "{q.__class__}"}, {"role": "human", "content": "{q}"}],
    }
    with pytest.raises(TemplateSecurityError, match="message 1"):
        parse_spec(data, source="c.toml")


def few_shot(examples: list[dict[str, str]], example_prompt: str = "{a} => {b}") -> dict[str, Any]:
    return {
        "name": "f",
        "description": "d",
        "language": "en",
        "kind": "few-shot",
        "variables": ["w"],
        "prefix": "P:",
        "example_prompt": example_prompt,
        "examples": examples,
        "body": "{w} =>",
    }


def test_few_shot_example_values_with_braces_are_refused() -> None:
    # LangChain re-reads rendered examples as a template, so "{secret}" in an example would become a variable.
    with pytest.raises(TemplateSecurityError, match="example 2"):
        parse_spec(few_shot([{"a": "x", "b": "y"}, {"a": "{secret}", "b": "z"}]), source="f.toml")


def test_few_shot_example_keys_must_match_example_prompt() -> None:
    with pytest.raises(TemplateVariableError, match="example 1 keys"):
        parse_spec(few_shot([{"a": "x", "c": "y"}]), source="f.toml")


def test_few_shot_unsafe_example_prompt_is_refused() -> None:
    with pytest.raises(TemplateSecurityError, match="example_prompt"):
        parse_spec(few_shot([{"a": "x"}], example_prompt="{a.__class__}"), source="f.toml")


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"kind": "prose"}, "'kind' must be one of"),
        ({"bodyy": "x"}, "unknown key 'bodyy'"),
        ({"messages": [{"role": "human", "content": "x"}]}, "unknown key 'messages'"),
        ({"language": "english"}, "bad name"),
        ({"name": "../x"}, "bad name"),
        ({"variables": "q"}, "'variables' must be an array"),
        ({"variables": ["q", "q"]}, "lists a name twice"),
        ({"body": 3}, "'body' must be a string"),
    ],
)
def test_malformed_files_get_typed_errors(data: dict[str, Any], match: str) -> None:
    with pytest.raises(PromptError, match=match):
        parse_spec({**text_spec("Hi {q}", ["q"]), **data}, source="t.toml")


def test_placeholders_returns_the_plain_names() -> None:
    assert placeholders("{a} and {b} and {{c}} and {a}", where="x") == {"a", "b"}

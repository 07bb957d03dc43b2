"""Schema validation names field paths; the opt-in repair step fixes common slips but not truncation."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from parsers import OutputParseError, SchemaValidationError, TruncatedOutputError, parse_json


class Item(BaseModel):
    title: str
    price: float


class Order(BaseModel):
    customer: str
    items: list[Item]


def test_schema_returns_a_model_instance() -> None:
    order = parse_json('주문: {"customer": "김민수", "items": [{"title": "책", "price": "12.5"}]}', schema=Order)
    assert isinstance(order, Order)
    assert order.customer == "김민수"
    assert order.items[0].price == 12.5


def test_schema_error_names_the_field_paths() -> None:
    text = '{"items": [{"title": "a", "price": 1}, {"title": "b", "price": "cheap"}]}'
    with pytest.raises(SchemaValidationError) as info:
        parse_json(text, schema=Order)
    err = info.value
    assert err.paths == ["customer", "items.1.price"]
    assert "customer: Field required" in str(err)
    assert "items.1.price: Input should be a valid number" in str(err)
    assert err.value == {"items": [{"title": "a", "price": 1}, {"title": "b", "price": "cheap"}]}
    assert err.raw == text
    assert "\n" not in str(err)


def test_schema_error_lists_at_most_three_paths_in_the_message() -> None:
    class Many(BaseModel):
        a: int
        b: int
        c: int
        d: int
        e: int

    with pytest.raises(SchemaValidationError, match=r"\(\+2 more\)") as info:
        parse_json("{}", schema=Many)
    assert info.value.paths == ["a", "b", "c", "d", "e"]


def test_non_model_types_validate_through_type_adapter() -> None:
    assert parse_json("[1, 2, 3]", schema=list[int]) == [1, 2, 3]
    with pytest.raises(SchemaValidationError) as info:
        parse_json('[1, "x"]', schema=list[int])
    assert info.value.paths == ["1"]


def test_truncation_is_reported_before_the_schema() -> None:
    with pytest.raises(TruncatedOutputError):
        parse_json('{"customer": "a", "items": [', schema=Order)


REPAIRS: list[tuple[str, str, Any]] = [
    ("trailing commas", '{"a": [1, 2,], "b": 3,}', {"a": [1, 2], "b": 3}),
    ("single quotes", "Sure: {'answer': 'four', 'n': 4}", {"answer": "four", "n": 4}),
    ("line comments", '{"a": 1, // the first\n "b": 2}', {"a": 1, "b": 2}),
    ("block comments", '/* result */ {"a": /* one */ 1}', {"a": 1}),
    ("BOM and think block", "\ufeff<think>hmm {'x': 1}</think>{\"a\": 1,}", {"a": 1}),
    ("Python literals", "{'ok': True, 'none': None, 'no': False}", {"ok": True, "none": None, "no": False}),
    ("Korean with single quotes", "{'답': '서울'}", {"답": "서울"}),
    ("fenced slips", "```json\n{'a': [1, 2,],}\n```\nDone", {"a": [1, 2]}),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in REPAIRS], ids=[c[0] for c in REPAIRS])
def test_repair_fixes_common_slips_only_when_asked(text: str, expected: Any) -> None:
    with pytest.raises(OutputParseError):
        parse_json(text)
    assert parse_json(text, repair=True) == expected


def test_repair_does_not_close_truncated_values_in_strict_mode() -> None:
    text = "{'genres': ['sci-fi',"
    with pytest.raises(TruncatedOutputError):
        parse_json(text, repair=True)
    assert parse_json(text, repair=True, strict=False) == {"genres": ["sci-fi"]}


def test_repair_still_needs_an_object_or_array() -> None:
    with pytest.raises(OutputParseError, match="no JSON object or array found"):
        parse_json("just words, no data", repair=True)


def test_repair_skips_the_echoed_prompt() -> None:
    prompt = "Reply like {'answer': 0}"
    assert parse_json(prompt + "\n{'answer': 4,}", repair=True, prompt=prompt) == {"answer": 4}

"""Table-driven messy model outputs: fences, prose, truncation, nesting, escapes, Korean, echoed prompts."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.exceptions import OutputParserException

from parsers import OutputParseError, SchemaValidationError, TruncatedOutputError, parse_json

FOUND: list[tuple[str, str, Any]] = [
    ("plain", '{"answer": 4}', {"answer": 4}),
    ("json fence", '```json\n{"answer": 4}\n```', {"answer": 4}),
    ("bare fence, array", "```\n[1, 2]\n```", [1, 2]),
    ("uppercase fence, CRLF", '```JSON\r\n{"a": 1}\r\n```', {"a": 1}),
    ("prose before and after", 'Sure! Here is the JSON: {"answer": 4}. Let me know!', {"answer": 4}),
    ("fence wins over an example in prose", 'Like {"answer": 0}:\n```json\n{"answer": 4}\n```', {"answer": 4}),
    ("fence with prose around", 'Here:\n```json\n{"a": [1, {"b": null}]}\n```\nDone.', {"a": [1, {"b": None}]}),
    ("nested", '{"a": {"b": [1, {"c": null}]}, "d": true}', {"a": {"b": [1, {"c": None}]}, "d": True}),
    (
        "escaped quotes and braces in strings",
        '{"q": "He said \\"hi\\" {not} [a] }"}',
        {"q": 'He said "hi" {not} [a] }'},
    ),
    ("unicode escapes", '{"city": "\\uc11c\\uc6b8", "e": "\\ud83c\\udfac"}', {"city": "서울", "e": "🎬"}),
    ("Korean text and prose", '다음은 답변입니다: {"답": "네, 서울입니다"} 감사합니다.', {"답": "네, 서울입니다"}),
    ("first of two values", '{"a": 1} and then {"b": 2}', {"a": 1}),
    ("top-level array in prose", 'Genres: ["sci-fi", "drama"] are my picks', ["sci-fi", "drama"]),
    ("prose brackets are not JSON", 'See [the docs] and {name}: {"ok": true}', {"ok": True}),
    ("think block is skipped", '<think>maybe {"answer": 3}?</think>\n{"answer": 4}', {"answer": 4}),
    ("BOM", '\ufeff{"a": 1}', {"a": 1}),
    ("raw newline inside a string", '{"poem": "line one\nline two"}', {"poem": "line one\nline two"}),
    ("whole-text scalar", "  42 ", 42),
    ("whole-text string", '"just text"', "just text"),
    ("empty object after prose", "Result: {}", {}),
    ("closing brace inside a string", 'He said: {"a": "}"}', {"a": "}"}),
    (
        "deep nesting",
        "[" * 60 + "]" * 60,
        [
            [
                [
                    [
                        [
                            [
                                [
                                    [
                                        [
                                            [
                                                [
                                                    [
                                                        [
                                                            [
                                                                [
                                                                    [
                                                                        [
                                                                            [
                                                                                [
                                                                                    [
                                                                                        [
                                                                                            [
                                                                                                [
                                                                                                    [
                                                                                                        [
                                                                                                            [
                                                                                                                [
                                                                                                                    [
                                                                                                                        [
                                                                                                                            [
                                                                                                                                [
                                                                                                                                    [
                                                                                                                                        [
                                                                                                                                            [
                                                                                                                                                [
                                                                                                                                                    [
                                                                                                                                                        [
                                                                                                                                                            [
                                                                                                                                                                [
                                                                                                                                                                    [
                                                                                                                                                                        [
                                                                                                                                                                            [
                                                                                                                                                                                [
                                                                                                                                                                                    [
                                                                                                                                                                                        [
                                                                                                                                                                                            [
                                                                                                                                                                                                [
                                                                                                                                                                                                    [
                                                                                                                                                                                                        [
                                                                                                                                                                                                            [
                                                                                                                                                                                                                [
                                                                                                                                                                                                                    [
                                                                                                                                                                                                                        [
                                                                                                                                                                                                                            [
                                                                                                                                                                                                                                [
                                                                                                                                                                                                                                    [
                                                                                                                                                                                                                                        [
                                                                                                                                                                                                                                            [
                                                                                                                                                                                                                                                [
                                                                                                                                                                                                                                                    []
                                                                                                                                                                                                                                                ]
                                                                                                                                                                                                                                            ]
                                                                                                                                                                                                                                        ]
                                                                                                                                                                                                                                    ]
                                                                                                                                                                                                                                ]
                                                                                                                                                                                                                            ]
                                                                                                                                                                                                                        ]
                                                                                                                                                                                                                    ]
                                                                                                                                                                                                                ]
                                                                                                                                                                                                            ]
                                                                                                                                                                                                        ]
                                                                                                                                                                                                    ]
                                                                                                                                                                                                ]
                                                                                                                                                                                            ]
                                                                                                                                                                                        ]
                                                                                                                                                                                    ]
                                                                                                                                                                                ]
                                                                                                                                                                            ]
                                                                                                                                                                        ]
                                                                                                                                                                    ]
                                                                                                                                                                ]
                                                                                                                                                            ]
                                                                                                                                                        ]
                                                                                                                                                    ]
                                                                                                                                                ]
                                                                                                                                            ]
                                                                                                                                        ]
                                                                                                                                    ]
                                                                                                                                ]
                                                                                                                            ]
                                                                                                                        ]
                                                                                                                    ]
                                                                                                                ]
                                                                                                            ]
                                                                                                        ]
                                                                                                    ]
                                                                                                ]
                                                                                            ]
                                                                                        ]
                                                                                    ]
                                                                                ]
                                                                            ]
                                                                        ]
                                                                    ]
                                                                ]
                                                            ]
                                                        ]
                                                    ]
                                                ]
                                            ]
                                        ]
                                    ]
                                ]
                            ]
                        ]
                    ]
                ]
            ]
        ],
    ),
    ("numbers", '{"n": [-1, 0, 2.5, 1e3, -0.5E-2]}', {"n": [-1, 0, 2.5, 1000.0, -0.005]}),
    ("one-line fence", '```json {"a": 1}```', {"a": 1}),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in FOUND], ids=[c[0] for c in FOUND])
def test_finds_the_json(text: str, expected: Any) -> None:
    assert parse_json(text) == expected


TRUNCATED: list[tuple[str, str, Any]] = [
    ("unclosed array (the seed's case)", '{"genres": ["sci-fi"', {"genres": ["sci-fi"]}),
    ("cut inside a string", 'Answer: {"answer": "The ca', {"answer": "The ca"}),
    ("cut inside a key", '{"a": 1, "lo', {"a": 1}),
    ("cut after a colon", '{"a": 1, "b":', {"a": 1}),
    ("cut inside a Korean string", '{"답": "서울의 완벽한', {"답": "서울의 완벽한"}),
    ("unclosed fence", '```json\n{"a": [1, 2', {"a": [1, 2]}),
    ("cut in a literal", '{"ok": tr', {}),
    ("cut after an escape", '{"q": "a\\', {"q": "a"}),
    ("just an opening brace", "Here: {", {}),
]


@pytest.mark.parametrize(("text", "closed"), [c[1:] for c in TRUNCATED], ids=[c[0] for c in TRUNCATED])
def test_truncated_json_raises_in_strict_mode_and_is_closed_otherwise(text: str, closed: Any) -> None:
    with pytest.raises(TruncatedOutputError, match="cut off") as info:
        parse_json(text)
    assert info.value.partial == closed
    assert parse_json(text, strict=False) == closed


MALFORMED: list[tuple[str, str, str]] = [
    ("mismatched brackets", '{"a":[1,2}', r"expected ',' or '\]' at char 9"),
    ("no JSON at all", "I cannot answer that.", "no JSON object or array found"),
    ("empty", "", "no JSON object or array found"),
    ("prose braces only", "Use {name} and [see above].", "no JSON object or array found"),
    ("trailing comma without repair", '{"a": 1,}', "expected a string key"),
    ("single quotes without repair", "{'a': 1}", "no JSON object or array found"),
    ("NaN is not JSON", '{"a": NaN}', "expected a value"),
    ("a broken value never yields its inner fragment", '{"a": 1 "b": {"c": 2}}', "expected ',' or '}'"),
    ("closed fence with a cut value", '```json\n{"a": 1\n```', "expected ',' or '}'"),
    ("bad escape", '{"a": "\\q"}', "bad escape"),
]


@pytest.mark.parametrize(("text", "match"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_json_raises_a_parse_error_not_truncation(text: str, match: str) -> None:
    with pytest.raises(OutputParseError, match=match) as info:
        parse_json(text, strict=False)
    assert type(info.value) is OutputParseError


def test_finish_reason_length_is_truncation_in_strict_mode() -> None:
    text = '{"answer": 4}'
    with pytest.raises(TruncatedOutputError, match="finish_reason=length") as info:
        parse_json(text, finish_reason="length")
    assert info.value.finish_reason == "length"
    assert info.value.partial == {"answer": 4}
    assert parse_json(text, finish_reason="length", strict=False) == {"answer": 4}
    assert parse_json(text, finish_reason="stop") == {"answer": 4}
    with pytest.raises(TruncatedOutputError):
        parse_json(text, finish_reason="max_tokens")


PROMPT = 'Answer in JSON like {"answer": 0, "why": "..."}.\nQuestion: what is 2+2?'


@pytest.mark.parametrize(
    "text",
    [
        PROMPT + '\n{"answer": 4, "why": "math"}',
        PROMPT.replace("\n", "  ") + ' Sure: ```json\n{"answer": 4, "why": "math"}\n```',
        "Echo:\n```\n" + PROMPT + '\n```\n{"answer": 4, "why": "math"}',
    ],
    ids=["echo then answer", "echo with other whitespace", "echo inside a fence"],
)
def test_json_inside_an_echoed_prompt_is_never_returned(text: str) -> None:
    assert parse_json(text, prompt=PROMPT) == {"answer": 4, "why": "math"}


def test_without_the_prompt_the_echoed_example_would_win() -> None:
    # The failure mode the `prompt` argument exists for (langchain's parser returns the format example).
    assert parse_json(PROMPT + '\n{"answer": 4, "why": "math"}') == {"answer": 0, "why": "..."}


def test_only_an_echo_is_an_error() -> None:
    with pytest.raises(OutputParseError, match="no JSON"):
        parse_json(PROMPT + "\n", prompt=PROMPT)


def test_errors_are_typed_short_and_keep_the_raw_output() -> None:
    raw = "x" * 5000 + '{"a": [1, 2}' + "y" * 5000
    with pytest.raises(OutputParseError) as info:
        parse_json(raw)
    err = info.value
    assert isinstance(err, OutputParserException)
    assert err.raw == raw
    assert err.llm_output == raw
    message = str(err)
    assert "\n" not in message
    assert len(message) < 300
    assert message.count("x") <= 100 and message.count("y") <= 100


def test_non_text_input_is_a_typed_error() -> None:
    with pytest.raises(OutputParseError, match="expected text, got int"):
        parse_json(42)  # type: ignore[arg-type]


def test_schema_errors_are_parse_errors() -> None:
    from pydantic import BaseModel

    class Answer(BaseModel):
        answer: int

    with pytest.raises(OutputParserException):
        parse_json('{"answer": "four"}', schema=Answer)
    assert issubclass(SchemaValidationError, OutputParseError)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("[" * 20_000, TruncatedOutputError),
        ('"{' * 20_000, TruncatedOutputError),
        (("[" * 300 + "x") * 60, OutputParseError),
        ('{"a" 1} ' * 5_000, OutputParseError),
    ],
    ids=["deep brackets", "quote-brace garbage", "deep broken", "repeated broken objects"],
)
def test_pathological_output_gets_a_typed_error(text: str, error: type[Exception]) -> None:
    # Deeper than the scanner's limit or endlessly broken: still one typed error (and linear work).
    with pytest.raises(error):
        parse_json(text)

"""Property-based: the parsers raise nothing but their typed errors on arbitrary text, and round-trip JSON.

The main property runs 10,000 examples in ~5-6 s on the shared 2-core machine (load ~3); about 4.7 s of that is
hypothesis generating the examples (measured with an empty test body), ~0.5 s is parse_json itself.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parsers import JsonParser, OutputParseError, TruncatedOutputError, parse_json, partial_json

# Arbitrary unicode mixed with JSON punctuation, fences and think tags, so the scanner's corners get hit often.
JSON_CHARS = "{}[]\",:\\ \n0123456789-.eEtrufalsn`'<>/#*서울\ufeff"
ANY_TEXT = st.text(alphabet=st.one_of(st.sampled_from(JSON_CHARS), st.characters()), max_size=60)
MODES: list[dict[str, Any]] = [
    {"strict": True, "repair": False},
    {"strict": False, "repair": False},
    {"strict": True, "repair": True},
    {"strict": False, "repair": True},
]


@settings(max_examples=10_000, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=ANY_TEXT)
def test_arbitrary_text_raises_only_typed_errors(text: str) -> None:
    # The mode comes from the text's length rather than a second draw: generation is the cost here.
    mode = MODES[len(text) % len(MODES)]
    try:
        value = parse_json(text, **mode)
    except OutputParseError as err:
        assert err.raw == text
        assert "\n" not in str(err)
        return
    json.dumps(value)  # whatever comes back is plain JSON data


@settings(max_examples=1_000, deadline=None, database=None)
@given(text=ANY_TEXT, prefix=st.sampled_from(["<think>x</think>```json\n", "Answer: [", "```\n{", ""]))
def test_arbitrary_text_with_a_prompt_raises_only_typed_errors(text: str, prefix: str) -> None:
    try:
        value = parse_json(prefix + text, strict=False, repair=True, prompt=text[: len(text) // 2])
    except OutputParseError as err:
        assert err.raw == prefix + text
        return
    json.dumps(value)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
CONTAINERS = st.one_of(st.lists(JSON_VALUES, max_size=4), st.dictionaries(st.text(), JSON_VALUES, max_size=4))
PROSE = st.text(alphabet=st.characters(blacklist_characters='{}[]"`<\ufeff'), max_size=30)


@settings(max_examples=200, deadline=None, database=None)
@given(value=CONTAINERS, before=PROSE, after=PROSE, ascii_only=st.booleans())
def test_json_in_prose_round_trips(value: Any, before: str, after: str, ascii_only: bool) -> None:
    text = f"{before} {json.dumps(value, ensure_ascii=ascii_only)} {after}"
    assert parse_json(text) == value


@settings(max_examples=200, deadline=None, database=None)
@given(value=CONTAINERS, data=st.data())
def test_every_cut_is_truncation_in_strict_mode_and_closes_otherwise(value: Any, data: st.DataObject) -> None:
    dumped = json.dumps(value, ensure_ascii=False)
    assert len(dumped) >= 2  # a container dumps to at least "[]"
    cut = data.draw(st.integers(min_value=1, max_value=len(dumped) - 1))
    prefix = "Answer: " + dumped[:cut]
    with pytest.raises(TruncatedOutputError):
        parse_json(prefix)
    assert isinstance(parse_json(prefix, strict=False), type(value))


@settings(max_examples=300, deadline=None, database=None)
@given(text=ANY_TEXT)
def test_streaming_parser_raises_only_typed_errors(text: str) -> None:
    chunks = [text[i : i + 3] for i in range(0, len(text), 3)]
    try:
        out = list(JsonParser(strict=False).transform(iter(chunks)))
    except OutputParseError:
        return
    json.dumps(out)


@settings(max_examples=300, deadline=None, database=None)
@given(value=CONTAINERS, before=PROSE, data=st.data())
def test_stream_partials_match_partial_json_of_each_prefix(value: Any, before: str, data: st.DataObject) -> None:
    # The incremental stream (each character scanned once) closes every prefix the way partial_json does.
    from parsers.stream import PartialStream

    text = f"{before} {json.dumps(value, ensure_ascii=data.draw(st.booleans()))}"
    cuts = sorted({*data.draw(st.lists(st.integers(1, len(text)), max_size=12)), len(text)})
    stream, done = PartialStream(), 0
    for cut in cuts:
        partial = stream.feed(text[done:cut])
        done = cut
        assert partial == partial_json(text[:cut]), text[:cut]
    assert partial == value


def test_stream_shows_a_key_whose_string_value_just_opened_after_a_chunk_boundary() -> None:
    # Found by the property test in CI: fed `{"a": {` and then `"b": "`, the stream kept the old partial.
    from parsers.stream import PartialStream

    for text in ('{"a": {"b": "', '{"a": [{"b": "', '["x", {"y": "'):
        cut = text.index("{", 1) + 1
        stream = PartialStream()
        stream.feed(text[:cut])
        assert stream.feed(text[cut:]) == partial_json(text)

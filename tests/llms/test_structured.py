"""Structured output by grammar-constrained decoding, on a random tiny GPT-Neo and the embedded model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from langchain_core.messages import AIMessage, SystemMessage
from langchain_core.prompts import ChatPromptTemplate
from pydantic import BaseModel, Field

from llms import FakeChatModel, load_llm, load_model
from llms.grammar import GrammarError, Limits, bound_schema, json_grammar, json_object_schema
from llms.grammar_processor import JsonSchemaProcessor, ll_tokenizer
from llms.local import LocalChatModel
from llms.structured import (
    StructuredParser,
    choice_schema,
    choices_type,
    constrained,
    format_instructions,
    parse_structured,
    schema_errors,
)
from parsers import OutputParseError, SchemaValidationError, TruncatedOutputError
from tests.schemas import ORDER_MAX_TOKENS, Item, Order

GENRES = ["science fiction", "horror", "romance", "comedy", "공포", "로맨스"]


@pytest.fixture(scope="module")
def tiny(tiny_gpt_neo_dir: Path) -> LocalChatModel:
    model = load_model(f"hf:{tiny_gpt_neo_dir}", temperature=1.0, seed=7, max_new_tokens=ORDER_MAX_TOKENS)
    assert isinstance(model, LocalChatModel)
    return model


def no_control_chars(text: str) -> bool:
    return not any(ord(c) < 0x20 for c in text)


def test_50_of_50_random_outputs_valid_for_a_nested_schema(tiny: LocalChatModel) -> None:
    results = tiny.with_structured_output(Order, include_raw=True).batch(["Order lunch for the team."] * 50)
    parsed = [r["parsed"] for r in results]
    assert all(isinstance(p, Order) for p in parsed), [r["parsing_error"] for r in results if r["parsed"] is None]
    for r in results:
        assert json.loads(r["raw"].content) == r["parsed"].model_dump()  # strict json.loads, same value
        assert no_control_chars(r["raw"].content)
    assert len({r["raw"].content for r in results}) > 40  # sampling, not one answer repeated
    assert {len(p.items) for p in parsed} > {1}  # rows of different lengths finished in the same batch
    # Without the grammar the same random model writes no valid Order at all.
    plain = tiny.batch(["Order lunch for the team."] * 10, max_new_tokens=60)
    assert not any(_valid(m.text, Order) for m in plain)


def _valid(text: str, schema: Any) -> bool:
    try:
        parse_structured(text, schema)
    except OutputParseError:
        return False
    return True


def test_batch_is_one_generate_call_with_one_matcher_per_row(tiny: LocalChatModel, monkeypatch: Any) -> None:
    engine = tiny.engine
    calls: list[int] = []
    processors: list[Any] = []
    real_generate, real_processors = engine.generate, engine._processors

    def spy(prompts: list[str], options: Any) -> Any:
        calls.append(len(prompts))
        return real_generate(prompts, options)

    def spy_processors(options: Any) -> Any:
        made = real_processors(options)
        processors.extend(made)
        return made

    monkeypatch.setattr(engine, "generate", spy)
    monkeypatch.setattr(engine, "_processors", spy_processors)
    out = tiny.with_structured_output(Order).batch(["a", "a much longer prompt so that rows are padded", "c"])
    assert len(out) == 3 and all(isinstance(o, Order) for o in out)
    assert calls == [3]
    (proc,) = processors
    assert isinstance(proc, JsonSchemaProcessor) and len(proc.matchers) == 3


def test_enum_choices_including_korean(tiny: LocalChatModel) -> None:
    Pick = choice_schema("Pick", GENRES, field="genres", many=True, max_items=2)
    assert Pick.model_json_schema()["properties"]["genres"]["items"]["enum"] == GENRES
    picks = tiny.with_structured_output(Pick).batch(["좋아하는 장르는?"] * 12, max_new_tokens=60)
    chosen = [g for p in picks for g in p.genres]
    assert all(g in GENRES for g in chosen) and all(1 <= len(p.genres) <= 2 for p in picks)
    assert len(set(chosen)) > 2
    Single = choice_schema("Single", ["예", "아니요"])
    assert tiny.with_structured_output(Single).invoke("?", max_new_tokens=30).choice in ("예", "아니요")  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="choices"):
        choices_type([])


def test_patterns_and_integer_bounds_are_enforced(tiny: LocalChatModel) -> None:
    schema = {
        "type": "object",
        "properties": {
            "code": {"type": "string", "pattern": "^[A-Z]{2}-[0-9]{3}$"},
            "n": {"type": "integer", "minimum": -5, "maximum": 5},
        },
        "required": ["code", "n"],
    }
    values = tiny.with_structured_output(schema).batch(["code?"] * 10, max_new_tokens=40)
    for v in values:
        assert isinstance(v, dict) and not schema_errors(v, schema)
        assert len(v["code"]) == 6 and -5 <= v["n"] <= 5


def test_strings_are_strict_json(tiny: LocalChatModel) -> None:
    schema = {"type": "object", "properties": {"text": {"type": "string", "maxLength": 40}}, "required": ["text"]}
    messages = tiny.bind(json_schema=schema).batch(["Write with newlines\nand\ttabs."] * 20, max_new_tokens=300)
    for m in messages:
        assert no_control_chars(m.text), repr(m.text)
        assert isinstance(json.loads(m.text, strict=True)["text"], str)
    # The unconstrained model does emit raw control characters, so the check above can fail.
    raw = tiny.batch(["x"] * 20, max_new_tokens=60)
    assert not all(no_control_chars(m.text) for m in raw)


def test_token_limit_mid_object_raises_truncated_with_hint(tiny: LocalChatModel) -> None:
    with pytest.raises(TruncatedOutputError, match="max_new_tokens") as caught:
        tiny.with_structured_output(Order).invoke("x", max_new_tokens=8)
    assert caught.value.finish_reason == "length" and caught.value.raw.startswith('{"customer":')
    result = tiny.with_structured_output(Order, include_raw=True).invoke("x", max_new_tokens=8)
    assert result["parsed"] is None and isinstance(result["parsing_error"], TruncatedOutputError)
    assert result["raw"].response_metadata["finish_reason"] == "length"
    # A complete object that ends exactly at the limit is accepted; a bare number cut there is not.
    assert parse_structured('{"a": 1}', finish_reason="length") == {"a": 1}
    with pytest.raises(TruncatedOutputError):
        parse_structured("12", finish_reason="length")


def test_include_raw_contract(tiny: LocalChatModel) -> None:
    result = tiny.with_structured_output(Order, include_raw=True).invoke("x")
    assert set(result) == {"raw", "parsed", "parsing_error"}
    assert isinstance(result["raw"], AIMessage) and result["parsing_error"] is None
    assert Order.model_validate_json(result["raw"].text) == result["parsed"]


def test_chain_forms_prompt_bind_and_parser_and_llm(tiny: LocalChatModel, tiny_gpt_neo_dir: Path) -> None:
    prompt = ChatPromptTemplate.from_messages([("system", "You take orders."), ("human", "{request}")])
    order = (prompt | tiny.with_structured_output(Order)).invoke({"request": "two pizzas"})
    assert isinstance(order, Order)
    bound = tiny.bind(json_schema=Order) | StructuredParser(schema=Order)
    assert isinstance(bound.invoke("x"), Order)
    chunks = [c.text for c in tiny.bind(json_schema=Order).stream("x")]
    assert len(chunks) > 3 and isinstance(Order.model_validate_json("".join(chunks)), Order)
    llm = load_llm(f"hf:{tiny_gpt_neo_dir}", temperature=1.0, seed=3, max_new_tokens=ORDER_MAX_TOKENS)
    assert all(isinstance(o, Order) for o in constrained(llm, Order).batch(["a", "b"]))
    # json_mode: any JSON object, bounded (depth, keys, string length). A random model fills those bounds, so at
    # 400 tokens it may be cut off -- never half-parsed.
    for r in tiny.with_structured_output(None, method="json_mode", include_raw=True).batch(["x"] * 4):
        assert r["raw"].text.startswith("{")
        assert isinstance(r["parsed"], dict) or isinstance(r["parsing_error"], TruncatedOutputError)


def test_json_mode_is_bounded_so_it_always_closes(tiny: LocalChatModel) -> None:
    # Unbounded {"type": "object"} let a model nest without end ({"setup":{"setup":... to the limit). Bounded,
    # the set of outputs is finite: with a budget above its longest output even a random model closes, 20/20.
    small = json_grammar(json_object_schema(depth=2, keys=2, limits=Limits(string_chars=3)))
    schema = small.schema
    assert schema["maxProperties"] == 2 and "additionalProperties" in schema
    messages = tiny.bind(json_schema=small).batch(["x"] * 20, max_new_tokens=ORDER_MAX_TOKENS)
    for m in messages:
        assert m.response_metadata["finish_reason"] == "stop", m.text
        value = json.loads(m.text)
        assert isinstance(value, dict) and len(value) <= 2
        assert all(not isinstance(v, dict | list) or all(not isinstance(x, dict | list) for x in
                   (v.values() if isinstance(v, dict) else v)) for v in value.values())  # depth <= 2
    # The default JSON mode is the same shape, with roomier bounds.
    default = json_object_schema()
    assert default["maxProperties"] == 16 and default["type"] == "object"


def test_response_format_like_openai(tiny: LocalChatModel) -> None:
    # The OpenAI way to ask for JSON works on local models: json_object and json_schema, by grammar.
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    fmt = {"type": "json_schema", "json_schema": {"name": "check", "schema": schema}}
    for m in tiny.bind(response_format=fmt).batch(["x"] * 5, max_new_tokens=20):
        assert isinstance(json.loads(m.text)["ok"], bool)
    obj = tiny.bind(response_format={"type": "json_object"}).invoke("x", max_new_tokens=ORDER_MAX_TOKENS)
    assert obj.text.startswith("{")
    greedy = {"max_new_tokens": 8, "temperature": 0.0}
    assert tiny.bind(response_format={"type": "text"}).invoke("x", **greedy).text == tiny.invoke("x", **greedy).text
    with pytest.raises(GrammarError, match="response_format"):
        tiny.bind(response_format={"type": "yaml"}).invoke("x")


def test_methods_and_bad_input(tiny: LocalChatModel) -> None:
    assert isinstance(tiny.with_structured_output(Order, method="json_schema").invoke("x"), Order)
    # Local models have no tools: function_calling is an alias, so LangChain code written for OpenAI runs.
    assert isinstance(tiny.with_structured_output(Order, method="function_calling", strict=True).invoke("x"), Order)
    with pytest.raises(ValueError, match="unknown method"):
        tiny.with_structured_output(Order, method="tools")
    with pytest.raises(TypeError, match="tool_choice"):
        tiny.with_structured_output(Order, tool_choice="any")
    with pytest.raises(GrammarError, match="cannot use"):
        tiny.with_structured_output({"type": "string", "pattern": "^[a-z]+$", "format": "date"})
    with pytest.raises(TypeError, match="not a schema"):
        constrained(tiny, 42)


def test_eos_only_after_the_object_closes(tiny: LocalChatModel) -> None:
    tok, eos = tiny.engine.tokenizer, tiny.engine.eos_ids
    processor = JsonSchemaProcessor(tok, json_grammar(Item.model_json_schema()), sorted(eos))
    width = tiny.engine.model.config.vocab_size
    ids = tok.encode('{"name":"a","qty":7}')
    seen = torch.zeros((1, 1), dtype=torch.long)
    for token in [*ids, None]:
        scores = processor(seen, torch.zeros(1, width))  # type: ignore[arg-type]
        allowed = set(torch.isfinite(scores[0]).nonzero().flatten().tolist())
        if token is None:
            assert allowed == eos  # complete: the only choice is to stop
        else:
            assert token in allowed and not allowed & eos  # no stopping mid-object
            seen = torch.cat([seen, torch.tensor([[token]])], dim=1)
    with pytest.raises(RuntimeError, match="one generate call"):  # reused for a new prompt
        processor(torch.zeros((1, 3), dtype=torch.long), torch.zeros(1, width))  # type: ignore[arg-type]


def test_logits_wider_than_the_tokenizer(tiny: LocalChatModel) -> None:
    from transformers import GPTNeoConfig, GPTNeoForCausalLM

    from llms.engines.base import GenerationOptions
    from llms.engines.transformers import TransformersEngine
    from llms.grammar import grammar_for

    tok = tiny.engine.tokenizer
    config = GPTNeoConfig(vocab_size=len(tok) + 45, hidden_size=32, num_layers=2, num_heads=2,
                          attention_types=[[["global", "local"], 1]], max_position_embeddings=512,
                          eos_token_id=tok.eos_token_id, bos_token_id=tok.eos_token_id)
    torch.manual_seed(1)
    engine = TransformersEngine(GPTNeoForCausalLM(config), tok, name="wide")
    options = GenerationOptions(max_new_tokens=ORDER_MAX_TOKENS, temperature=1.0, seed=2, grammar=grammar_for(Order))
    done = engine.generate(["x"] * 8, options)
    assert all(isinstance(Order.model_validate_json(c.text), Order) for c in done)
    assert ll_tokenizer(tok, len(tok) + 45, [tok.eos_token_id]) is ll_tokenizer(tok, len(tok) + 45, [tok.eos_token_id])


def test_default_limits_bound_only_the_grammar() -> None:
    class Loose(BaseModel):
        note: str
        tags: list[str]
        n: int
        x: float | None = None

    schema = Loose.model_json_schema()
    bounded = bound_schema(schema)
    props = bounded["properties"]
    assert props["note"]["maxLength"] == 256 and props["tags"]["maxItems"] == 32
    assert props["tags"]["items"]["maxLength"] == 256 and props["n"]["maximum"] == 2**53 - 1
    assert props["x"]["anyOf"][0]["minimum"] == -1e15 and bounded["additionalProperties"] is False
    assert "maxLength" not in schema["properties"]["note"]  # the caller's schema is untouched
    tight = bound_schema({"type": "string", "maxLength": 3, "minLength": 1}, Limits(string_chars=300))
    assert tight["maxLength"] == 3 and bound_schema({"type": "string"}, None) == {"type": "string"}
    # Validation uses the user's schema: a long note is still valid.
    assert isinstance(parse_structured(json.dumps({"note": "a" * 500, "tags": [], "n": 1}), Loose), Loose)


def test_schema_errors_for_dict_schemas() -> None:
    schema = {
        "title": "Movie",
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "genres": {"type": "array", "items": {"$ref": "#/$defs/Genre"}, "maxItems": 2},
            "year": {"type": "integer", "minimum": 1888},
        },
        "required": ["title", "year"],
        "additionalProperties": False,
        "$defs": {"Genre": {"enum": ["horror", "공포"]}},
    }
    assert schema_errors({"title": "곡성", "genres": ["공포"], "year": 2016}, schema) == []
    errors = schema_errors({"genres": ["x", "horror", "공포"], "year": 1800, "extra": 1, "title": 3}, schema)
    assert {e["path"] for e in errors} == {"title", "genres", "genres.0", "year", "extra"}
    with pytest.raises(SchemaValidationError, match="Movie") as caught:
        parse_structured('{"title": "x"}', schema)
    assert caught.value.paths == ["year"]
    assert schema_errors(True, {"type": "integer"}) and not schema_errors(2.0, {"type": "integer"})


def test_non_local_models_fall_back_to_prompting_and_reask() -> None:
    fake = FakeChatModel(responses=["I think 4.", 'Sure: {"qty": 4, "name": "사과"}'])
    item = constrained(fake, Item).invoke("How many apples?")
    assert item == Item(name="사과", qty=4) and len(fake.calls) == 2
    first = fake.calls[0]
    assert isinstance(first[0], SystemMessage) and '"qty"' in first[0].text
    assert first[0].text == format_instructions(Item)
    raw = constrained(FakeChatModel(responses=["nope"]), Item, include_raw=True).invoke("x")
    assert raw["parsed"] is None and isinstance(raw["parsing_error"], OutputParseError)
    with pytest.raises(SchemaValidationError) as caught:
        constrained(FakeChatModel(responses=['{"name": "x", "qty": 400}']), Item, max_attempts=2).invoke("x")
    assert caught.value.attempts == 2


@pytest.mark.slow
def test_embedded_model_answers_validate(embedded_model_dir: Path) -> None:
    Genre = choices_type(GENRES)

    class Suggestion(BaseModel):
        title: str = Field(max_length=60)
        year: int = Field(ge=1900, le=2030)
        genre: Genre  # type: ignore[valid-type]

    model = load_model("local", max_new_tokens=128)  # int4 (the default engine) can loop to the 60-char title bound
    prompts: list[Any] = ["Suggest a movie for a rainy evening.", "무서운 영화 하나 추천해 줘.", "A funny film?"]
    results: list[Any] = model.with_structured_output(Suggestion, include_raw=True).batch(prompts)
    for r in results:
        assert isinstance(r["parsed"], Suggestion), r["parsing_error"]
        assert r["raw"].response_metadata["finish_reason"] == "stop"


@pytest.mark.slow
def test_seed_json_chain_with_response_format_on_the_embedded_model(embedded_model_dir: Path) -> None:
    # The seed's chain. Unconstrained the 135M model answers `The answer to this question is: "Paris"`, which the
    # stock parser cannot read; with OpenAI's way of asking for JSON, the grammar makes it a JSON object.
    from langchain_core.output_parsers import SimpleJsonOutputParser
    from langchain_core.prompts import PromptTemplate

    json_prompt = PromptTemplate.from_template(
        "Return a JSON object with an `answer` key that answers the following question: {question}"
    )
    model = load_model("local", max_new_tokens=64)
    chain = json_prompt | model.bind(response_format={"type": "json_object"}) | SimpleJsonOutputParser()
    questions = [{"question": "What is the capital of France?"}, {"question": "한국의 수도는 어디인가요?"}]
    answers = chain.batch(questions)
    assert all(isinstance(a, dict) and a for a in answers), answers
    raw = (json_prompt | model.bind(response_format={"type": "json_object"})).invoke(questions[0])
    assert raw.response_metadata["finish_reason"] == "stop" and json.loads(raw.text) == answers[0]

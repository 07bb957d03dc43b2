"""Record and replay (`llms.cassette`, `llms.replay`): answers by request key, not by order; misses say where."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from llms import capabilities_of, load_llm, load_model
from llms.cassette import Cassette, CassetteError, Recorder, StepNames, recording, request_key
from llms.replay import ReplayChatModel, ReplayLLM, ReplayMissError


def _chain(model: Any) -> Any:
    prompt = ChatPromptTemplate.from_messages([("system", "Be brief."), ("human", "Capital of {country}?")])
    return prompt | model | StrOutputParser()


def test_record_then_replay_answers_by_key_in_any_order(tmp_path: Path) -> None:
    tape = tmp_path / "tape.jsonl"
    model = load_model("fake:Paris|Rome|Seoul")
    with recording(Recorder(tape, model, spec="fake:x")) as recorder:
        chain = _chain(model)
        assert [chain.invoke({"country": c}) for c in ("France", "Italy", "Korea")] == ["Paris", "Rome", "Seoul"]
    assert recorder.calls == 3
    replay = ReplayChatModel.from_file(tape, spec="fake:x")
    chain = _chain(replay)
    assert chain.invoke({"country": "Korea"}) == "Seoul"  # not the first recorded answer: keyed, not ordered
    assert chain.batch([{"country": c} for c in ("Italy", "France", "Italy")]) == ["Rome", "Paris", "Rome"]
    assert replay.invoke([("system", "Be brief."), ("human", "Capital of Italy?")]).response_metadata["replayed"]


def test_the_key_holds_messages_stop_and_options_not_the_model() -> None:
    base = request_key([("human", "hi")], ["\n"], {"max_new_tokens": 8})
    assert base == request_key([("human", "hi")], ["\n"], {"max_new_tokens": 8, "model_name": "x", "engine": "y"})
    assert base != request_key([("human", "hi")], [], {"max_new_tokens": 8})
    assert base != request_key([("human", "hi")], ["\n"], {"max_new_tokens": 9})
    assert base != request_key([("system", "hi")], ["\n"], {"max_new_tokens": 8})


def test_a_missing_request_is_one_line_naming_the_step(tmp_path: Path) -> None:
    from langchain_core.runnables import RunnableLambda

    tape = tmp_path / "tape.jsonl"
    tape.write_text("")
    replay = ReplayChatModel.from_file(tape)
    step: RunnableLambda[Any, Any] = RunnableLambda(lambda q: replay.invoke(q).content, name="ask_capital")
    with StepNames.track(), pytest.raises(ReplayMissError) as err:
        (RunnableLambda(lambda x: x, name="prep") | step).invoke("Capital of Peru?")
    text = str(err.value)
    assert "\n" not in text and "step ask_capital" in text and "Capital of Peru?" in text and str(tape) in text


def test_capabilities_are_the_recorded_models(tmp_path: Path) -> None:
    tape = tmp_path / "tape.jsonl"
    caps = {"backend": "local", "grammar": True, "max_tokens_option": "max_new_tokens", "engine": "onnxruntime"}
    tape.write_text(json.dumps({"type": "model", "spec": "local", "capabilities": caps, "defaults": {}}) + "\n")
    replay = ReplayChatModel.from_file(tape, spec="local")
    assert replay.capabilities.grammar and replay.capabilities.max_tokens_option == "max_new_tokens"
    assert capabilities_of(load_model(f"replay:{tape}")).engine == "onnxruntime"  # the registered spec


def test_text_llms_replay_too(tmp_path: Path) -> None:
    tape = tmp_path / "tape.jsonl"
    llm = load_llm("fake:one|two")
    with recording(Recorder(tape, llm)):
        assert [llm.invoke("a"), llm.invoke("b")] == ["one", "two"]
    replay = load_llm(f"replay:{tape}")
    assert isinstance(replay, ReplayLLM) and [replay.invoke("b"), replay.invoke("a")] == ["two", "one"]


def test_a_bad_cassette_line_names_the_file_and_line(tmp_path: Path) -> None:
    tape = tmp_path / "tape.jsonl"
    tape.write_text('{"type": "model"}\nnot json\n')
    with pytest.raises(CassetteError, match=r"tape.jsonl:2"):
        Cassette.load(tape)


def test_two_models_asked_the_same_are_told_apart(tmp_path: Path) -> None:
    """Judge asks model A and model B the same instruction: keys hold the spec each model was tagged with."""
    tape = tmp_path / "tape.jsonl"
    a, b = load_model("fake:alpha"), load_model("fake:beta")
    with recording(Recorder(tape)) as recorder:
        recorder.add_model(a, spec="fake:alpha")
        recorder.add_model(b, spec="fake:beta")
        assert (a.invoke("same question").content, b.invoke("same question").content) == ("alpha", "beta")
    assert ReplayChatModel.from_file(tape, spec="fake:alpha").invoke("same question").content == "alpha"
    assert ReplayChatModel.from_file(tape, spec="fake:beta").invoke("same question").content == "beta"

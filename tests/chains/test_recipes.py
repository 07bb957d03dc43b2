"""Every recipe on the fake model (logic) and on a real tiny GPT-Neo (plumbing with a real transformers model)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig

from chains import (
    MissingKeyError,
    Step,
    chat,
    json_qa,
    load_catalogue,
    movie_night,
    movie_night_classic,
    perfect_day,
    perfect_day_classic,
    sequential,
    translate,
    translate_all,
)
from chains.conversation import History
from chains.translation import first_line
from llms import FakeChatModel, FakeLLM, load_llm, load_model

GENRES = '{"genres": ["comedy"]}'


def picks_json(titles_by_genre: dict[str, list[str]]) -> str:
    # The fake has no grammar: it answers with the aliases the schema asks for (genre names).
    return json.dumps(titles_by_genre)


def test_perfect_day_lcel_and_classic_on_fake() -> None:
    model = FakeChatModel(responses=["A walk by the Seine."])
    assert perfect_day(model).invoke({"city": "Paris"}) == "A walk by the Seine."
    assert "Paris" in model.calls[0][0].text
    classic = perfect_day_classic(FakeLLM(responses=["한강 산책"]), lang="ko")
    assert classic.invoke({"city": "서울"})["text"] == "한강 산책"


def test_perfect_day_missing_variable_is_named() -> None:
    with pytest.raises(Exception, match="city"):
        perfect_day(FakeChatModel(responses=["x"])).invoke({"town": "Paris"})


def test_translate_modes_show_the_seed_examples() -> None:
    model = FakeChatModel(responses=["fromage\nsecond line"])
    assert translate(model, mode="zero").invoke({"word": "cheese"}) == "fromage"
    few_prompt = model.calls[-1][0].text
    assert "sea otter" not in few_prompt
    translate(model, mode="few").invoke({"word": "cheese"})
    few_prompt = model.calls[-1][0].text
    for line in ("sea otter => loutre de mer", "peppermint => menthe poivrée", "plush girafe => girafe peluche"):
        assert line in few_prompt
    assert few_prompt.rstrip().endswith("cheese =>")
    with pytest.raises(ValueError, match="mode"):
        translate(model, mode="two")  # type: ignore[arg-type]
    assert translate_all(FakeChatModel(responses=["a", "b", "c"])).invoke({"word": "x"}) == {
        "zero": "a", "one": "b", "few": "c"
    }


def test_chat_keeps_history_as_roles_and_never_mutates() -> None:
    model = FakeChatModel()  # echoes
    bot = chat(model, system="Be {brief}")  # braces in a system value stay literal
    history = History()
    reply = bot.invoke({"history": list(history.messages), "input": "안녕"}).text
    assert reply == "안녕"
    longer = history.turn("안녕", reply)
    assert len(history) == 0 and len(longer) == 2
    bot.invoke({"history": list(longer.messages), "input": "again"})
    roles = [m.type for m in model.calls[-1]]
    assert roles == ["system", "human", "ai", "human"]
    assert model.calls[-1][0].text == "Be {brief}"


def test_json_qa_validates_and_reasks_on_fake() -> None:
    model = FakeChatModel(responses=["Sure! The answer is four.", '{"answer": "4"}'])
    assert json_qa(model).invoke({"question": "What is 2+2?"}).answer == "4"
    assert len(model.calls) == 2 and "answer" in model.calls[1][-1].text.lower()


def test_movie_night_on_fake_grounds_titles_and_follows_language() -> None:
    catalogue = load_catalogue()
    comedy = [m.title for m in catalogue.candidates(["comedy"])["comedy"]]
    fake = FakeChatModel(responses=[picks_json({"comedy": [comedy[1], comedy[1], comedy[2]]}),
                                    "A classic that still makes everyone laugh out loud."])
    result = movie_night(fake).invoke({"answer": "I like comedies"})
    assert result["genres"] == ["comedy"]
    titles = [r["title"] for r in result["recommendations"]]
    assert len(titles) == len(set(titles)) >= 3  # the repeated pick counted once, then topped up
    assert titles[:2] == [comedy[1], comedy[2]]
    assert all("comedy" in r["genres"] for r in result["recommendations"])
    assert result["recommendations"][2]["pick_source"] == "catalogue"
    comedy_ko = [m.title_ko for m in catalogue.candidates(["comedy"])["comedy"]]
    ko_fake = FakeChatModel(responses=[picks_json({"comedy": [comedy_ko[0]] * 3}), "gibberish in English"])
    ko = movie_night(ko_fake).invoke({"answer": "저는 코미디 영화를 좋아해요"})
    ko_titles = {m.title_ko for m in catalogue.movies}
    assert all(r["title"] in ko_titles for r in ko["recommendations"])
    # A reason in the wrong language is replaced by catalogue facts, and marked so.
    assert all(r["reason_source"] == "catalogue" and "코미디" in r["reason"] for r in ko["recommendations"])


def test_movie_night_asks_the_model_when_no_genre_is_named() -> None:
    catalogue = load_catalogue()
    horror = [m.title for m in catalogue.candidates(["horror"])["horror"]]
    fake = FakeChatModel(responses=['{"genres": ["horror"]}', picks_json({"horror": horror[:3]}),
                                    "It keeps you on the edge of your seat all night."])
    result = movie_night(fake).invoke({"answer": "films that keep me awake at night"})
    assert result["genres"] == ["horror"]
    assert "horror" in fake.calls[0][-1].text and "science fiction" in fake.calls[0][-1].text


def test_movie_night_verbose_trace(capsys: pytest.CaptureFixture[str]) -> None:
    comedy = [m.title for m in load_catalogue().candidates(["comedy"])["comedy"]]
    fake = FakeChatModel(responses=[picks_json({"comedy": comedy[:3]}), "Funny and warm from start to end."])
    movie_night(fake, verbose=True).invoke({"answer": "comedy"})
    trace = capsys.readouterr().err
    for step in ("genres", "picks", "recommendations"):
        assert step in trace


def test_sequential_missing_key_fails_at_build_naming_it() -> None:
    from langchain_core.prompts import PromptTemplate

    step = Step("movies", PromptTemplate.from_template("Movies for {genres}") | FakeChatModel(), "movies")
    with pytest.raises(MissingKeyError, match="genres"):
        sequential(step, inputs=["answer"])


def test_classic_simple_sequential_chain_on_fake(capsys: pytest.CaptureFixture[str]) -> None:
    llm = FakeLLM(responses=["comedy, horror", "Home Alone, The Shining"])
    chain = movie_night_classic(llm, verbose=True)
    assert chain.invoke({"input": "I like comedy"})["output"] == "Home Alone, The Shining"
    assert "Entering new SimpleSequentialChain" in capsys.readouterr().out
    keyed = movie_night_classic(FakeLLM(responses=["comedy", "Home Alone"]), simple=False, verbose=False)
    out = keyed.invoke({"answer": "I like comedy"})
    assert out["genres"] == "comedy" and out["movies"] == "Home Alone"


@pytest.fixture(scope="module")
def tiny(tiny_gpt_neo_dir: Path):  # type: ignore[no-untyped-def]
    return load_model(f"hf:{tiny_gpt_neo_dir}", max_new_tokens=24)


class _Sent(BaseCallbackHandler):
    """What each model call received, in order: ``[(role, text), ...]`` for a chat model, the text for an LLM."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def on_chat_model_start(self, serialized: dict[str, Any], messages: list[list[BaseMessage]], **kw: Any) -> None:
        self.sent.extend([(m.type, m.text) for m in batch] for batch in messages)

    def on_llm_start(self, serialized: dict[str, Any], prompts: list[str], **kwargs: Any) -> None:
        self.sent.extend(prompts)


def test_recipes_send_their_prompt_to_tiny_gpt_neo_and_return_its_answer(  # type: ignore[no-untyped-def]
    tiny, tiny_gpt_neo_dir: Path
) -> None:
    # Greedy decoding is deterministic: the model invoked directly on the prompt the recipe should build gives the
    # answer the recipe must return; the callback shows the prompt that reached the model.
    from prompts import get

    seen = _Sent()
    config: RunnableConfig = {"callbacks": [seen]}
    day = get("perfect_day").invoke({"city": "Paris"})
    answer = perfect_day(tiny).invoke({"city": "Paris"}, config=config)
    assert seen.sent == [[("human", day.to_string())]]
    assert answer == tiny.invoke(day).text and answer.strip()

    llm = load_llm(f"hf:{tiny_gpt_neo_dir}", max_new_tokens=8)
    classic = perfect_day_classic(llm).invoke({"city": "Paris"}, config=config)
    assert seen.sent[1:] == [day.to_string()]
    assert classic["text"] == llm.invoke(day.to_string()) and classic["text"].strip()

    shots = {mode: get(f"translate_{mode}_shot").invoke({"word": "cheese"}) for mode in ("zero", "one", "few")}
    answers = translate_all(tiny).invoke({"word": "cheese"}, config=config)
    assert seen.sent[2:] == [[("human", shot.to_string())] for shot in shots.values()]
    assert answers == {mode: first_line(tiny.invoke(shot).text) for mode, shot in shots.items()}
    assert all(answers.values()), answers

    history = [HumanMessage("hi"), AIMessage("hello")]
    reply = chat(tiny, system="Be brief.").invoke({"history": history, "input": "안녕"}, config=config)
    turns = [SystemMessage("Be brief."), *history, HumanMessage("안녕")]
    assert seen.sent[5:] == [[(m.type, m.text) for m in turns]]
    assert reply.text == tiny.invoke(turns).text and reply.text.strip()
    assert reply.response_metadata["finish_reason"] in {"stop", "length"}


def test_json_qa_and_movie_night_on_tiny_gpt_neo_are_valid_by_grammar(tiny) -> None:  # type: ignore[no-untyped-def]
    catalogue = load_catalogue()
    answer = json_qa(tiny.bind(max_new_tokens=260)).invoke({"question": "What is 2+2?"})
    assert isinstance(answer.answer, str)
    result = movie_night(tiny).invoke({"answer": "films that keep me awake"})  # no genre named: the model picks
    assert 1 <= len(result["genres"]) <= 3 and set(result["genres"]) <= set(catalogue.genres())
    titles = {m.title for m in catalogue.movies}
    assert len(result["recommendations"]) >= 3
    assert all(r["title"] in titles and set(r["genres"]) & set(result["genres"]) for r in result["recommendations"])


@pytest.mark.parametrize(
    ("reason", "lang", "kept"),
    [
        ("A tense, clever thriller about memory.", "en", True),
        ("긴장감 넘치는 스릴러라서 좋아할 거예요.", "ko", True),
        ("Too short", "en", False),
        ("This one is in English, not Korean.", "ko", False),
        ("2004년봏에에에에에에에 영화", "ko", False),  # a run of one syllable: the small model looping
        ("A lovely film about a ca\ufffd", "en", False),  # a character cut at the token cap
    ],
)
def test_movie_reasons_are_kept_only_when_they_are_a_sentence(reason: str, lang: str, kept: bool) -> None:
    from chains.movies import usable_reason

    assert usable_reason(reason, lang) is kept

"""The built-in starter set: English and Korean, loaded into LangChain templates."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.prompts import ChatPromptTemplate, FewShotPromptTemplate, PromptTemplate

import prompts
from prompts import PromptNotFoundError, get

STARTER = {
    "perfect_day": PromptTemplate,
    "json_answer": PromptTemplate,
    "favorite_genres": PromptTemplate,
    "recommend_movies": PromptTemplate,
    "translate_zero_shot": PromptTemplate,
    "translate_one_shot": FewShotPromptTemplate,
    "translate_few_shot": FewShotPromptTemplate,
    "alpaca_instruction": PromptTemplate,
    "alpaca_instruction_input": PromptTemplate,
    "chat_assistant": ChatPromptTemplate,
}


def test_names_lists_the_starter_set() -> None:
    # Other recipes may ship more prompts; the starter set must be there in both languages.
    assert set(STARTER) <= set(prompts.names())
    assert prompts.names("ko") == prompts.names("en") == prompts.names()


@pytest.mark.parametrize("lang", ["en", "ko"])
@pytest.mark.parametrize("name", sorted(STARTER))
def test_every_prompt_loads_as_the_right_langchain_class(name: str, lang: str) -> None:
    template = get(name, lang=lang)
    assert isinstance(template, STARTER[name])
    meta = prompts.info(name, lang)
    assert (meta.name, meta.language) == (name, lang)
    assert sorted(template.input_variables) == sorted(meta.variables)
    assert meta.description


def test_json_answer_is_the_seed_text() -> None:
    text = get("json_answer").format(question="What is 2+2?")
    expected = "Return a JSON object with an `answer` key that answers the following question: What is 2+2?"
    assert text == expected


def test_korean_favorite_genres_asks_the_seed_question() -> None:
    text = get("favorite_genres", lang="ko").format()
    assert text.startswith("당신이 좋아하는 영화 장르는 무엇인가요?")
    assert "`genres`" in text


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_translate_zero_one_few_shot_lines(lang: str) -> None:
    seed = ["sea otter => loutre de mer", "peppermint => menthe poivrée", "plush girafe => girafe peluche"]
    for name, n_examples in [("translate_zero_shot", 0), ("translate_one_shot", 1), ("translate_few_shot", 3)]:
        lines = get(name, lang).format(word="cheese").splitlines()
        assert lines[1:] == [*seed[:n_examples], "cheese =>"], name
    assert get("translate_few_shot", "en").format(word="cheese").splitlines()[0] == "Translate English to French:"
    assert get("translate_few_shot", "ko").format(word="cheese").splitlines()[0] == "영어를 프랑스어로 번역하세요:"


def test_alpaca_formats_with_and_without_input() -> None:
    without = get("alpaca_instruction").format(instruction="Name a color.")
    assert without == (
        "Below is an instruction that describes a task. Write a response that appropriately completes "
        "the request.\n\n### Instruction:\nName a color.\n\n### Response:"
    )
    with_input = get("alpaca_instruction_input").format(instruction="Translate.", input="고양이")
    assert "paired with an input" in with_input
    assert "### Instruction:\nTranslate.\n\n### Input:\n고양이\n\n### Response:" in with_input
    assert "### 입력:\n고양이" in get("alpaca_instruction_input", "ko").format(instruction="번역", input="고양이")


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_chat_assistant_has_a_system_role(lang: str) -> None:
    messages = get("chat_assistant", lang).invoke({"question": "안녕하세요?"}).to_messages()
    assert [type(m) for m in messages] == [SystemMessage, HumanMessage]
    assert messages[1].content == "안녕하세요?"


def test_recommend_movies_composes_in_lcel() -> None:
    from llms.fake import FakeChatModel

    model = FakeChatModel()  # echoes the prompt
    chain = get("recommend_movies", "ko") | model
    reply = chain.invoke({"genres": "SF, 스릴러"})
    assert isinstance(reply, AIMessage)
    assert "SF, 스릴러" in str(reply.content)


def test_get_returns_a_fresh_template_each_time() -> None:
    first = get("json_answer")
    assert isinstance(first, PromptTemplate)
    first.template = "changed {question}"
    assert get("json_answer").format(question="q").startswith("Return a JSON object")


def test_unknown_name_and_language_errors() -> None:
    with pytest.raises(PromptNotFoundError, match=r"no prompt named 'nope'.*json_answer"):
        get("nope")
    with pytest.raises(PromptNotFoundError, match=r"no 'fr' version.*en, ko"):
        get("json_answer", lang="fr")


def test_template_metadata_names_the_prompt() -> None:
    template = get("perfect_day", "ko")
    assert template.name == "perfect_day"
    assert template.metadata == {"prompt_name": "perfect_day", "prompt_language": "ko"}


def test_info_shows_the_template_text() -> None:
    meta = prompts.info("translate_one_shot")
    assert meta.kind == "few-shot"
    assert meta.template == "Translate English to French:\nsea otter => loutre de mer\n{word} =>"
    assert meta.source == "prompts/data/translate_one_shot.en.toml"

"""Self-instruct's keep rules one by one: each rejects its case and keeps a good task, in English and Korean."""

from __future__ import annotations

import pytest

from chains.self_instruct import load_seed_tasks
from chains.task_filters import (
    REJECT_REASONS,
    Task,
    TaskFilter,
    copies_input,
    is_blacklisted,
    is_statement,
    not_an_instruction,
    starts_badly,
)


def check(instruction: str, output: str = "A fine answer.", input: str = "") -> str | None:
    return TaskFilter().check(Task(instruction, input, output))


def test_every_reason_the_filter_gives_is_in_the_report_order() -> None:
    cases = [("Name a colour of the sky.", "  "), ("1. Write a haiku about rain.", "ok"),
             ("She doesn't like going to school on Mondays.", "ok"), ("Describe the image of a cat.", "ok")]
    reasons = {check(i, o) for i, o in cases}
    assert reasons == {"empty", "non-letter start", "not an instruction", "blacklisted"}
    assert reasons <= set(REJECT_REASONS)


def test_output_that_copies_the_input_is_rejected_but_a_short_extracted_answer_is_kept() -> None:
    text = "The quick brown fox jumps over the lazy dog."
    assert check("Rewrite the sentence in the passive voice.", text, text) == "copies input"
    assert check("Rewrite the sentence in the passive voice.", "the quick brown fox jumps", text) == "copies input"
    assert check("Rewrite the sentence in the passive voice.", "The lazy dog is jumped over by the quick brown fox.",
                 text) is None
    assert check("Find the largest number in the list.", "45", "12, 7, 45, 3, 29") is None
    assert copies_input(Task("다음 문장을 높임말로 바꿔 주세요.", "밥 먹었어?", "밥 먹었어?"))
    assert not copies_input(Task("다음 문장을 높임말로 바꿔 주세요.", "밥 먹었어?", "진지 드셨어요?"))
    assert not copies_input(Task("Name three fruits for a salad.", "", "Apple, pear, grape."))  # no input, no copy


def test_statements_and_too_short_instructions_are_not_instructions() -> None:
    for text in ("She doesn't like going to school on Mondays.", "Paris is the capital of France.",
                 "The sky is blue.", "There are many kinds of birds.", "Write a poem.",
                 "I'll be the new helper as I walk in a new direction."):  # kept by the embedded model, measured
        assert check(text) == "not an instruction", text
    for text in ("Tell me a joke about cats.", "Explain why the sky is blue.", "What is the capital of France?",
                 "What is 2 + 2.", "You are given a list of numbers. Find the largest one.",
                 "Name three fruits that are red", "The following sentence has a grammar error, correct it."):
        assert check(text) is None, text


def test_korean_statements_ending_in_da_are_rejected_and_korean_requests_kept() -> None:
    assert is_statement("오늘은 월요일이다.") and is_statement("가을은 아름다운 계절입니다.")
    assert check("그녀는 월요일마다 학교에 가기 싫어한다.") == "not an instruction"
    assert check("번역하세요.") == "not an instruction"  # one word: too short
    for text in ("다음 문장을 영어로 번역해 주세요.", "가을에 관한 짧은 시를 써 주세요.", "서울의 인구는 얼마입니까?",
                 "다음 글은 뉴스 기사입니다. 한 문장으로 요약하세요.", "한국의 전통 음식을 함께 알아봅시다.",
                 "이 문장의 맞춤법을 고쳐 주시기 바랍니다.", "영어로 번역하시오."):
        assert not not_an_instruction(text), text
    assert not is_statement("세 가지 예를 들어 설명하라.")


def test_blacklisted_task_kinds_need_more_than_text_in_both_languages() -> None:
    for text in ("Draw a cat in the style of Picasso.", "Describe the attached image in detail.",
                 "Open the file and count its lines.", "Plot a graph of y = x squared.", "Summarize this video clip.",
                 "이 사진에 무엇이 있는지 설명해 주세요.", "고양이 그림을 그려 주세요.", "첨부한 파일을 요약해 주세요.",
                 "이 동영상의 내용을 정리해 주세요."):
        assert check(text) == "blacklisted", text
    # Words that only contain a blacklisted one, and Korean words that look like one, stay.
    for text in ("Explain what a mapping function does.", "Give three tips for drawing conclusions carefully.",
                 "그림자가 생기는 이유를 설명해 주세요.", "아침을 먹고 그리고 나서 할 일을 정리해 주세요.",
                 "학생을 지도하는 좋은 방법을 알려 주세요."):
        assert not is_blacklisted(text), text


def test_instructions_must_start_with_a_letter_hangul_included() -> None:
    for text in (",<END_SEPARATOR>, write it down", "1. Write a haiku about rain.", "- List three colours.",
                 '"Quote" this sentence for me.'):
        assert starts_badly(text), text
    assert not starts_badly("Write a haiku about rain.") and not starts_badly("비에 관한 하이쿠를 써 주세요.")
    assert check("비에 관한 하이쿠를 써 주세요.") is None  # Alpaca's "not ASCII" rule would drop it; we keep it


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_shipped_seed_tasks_pass_the_new_rules(lang: str) -> None:
    # Seeds are the model of a good task: a rule that rejects them would reject their look-alikes too.
    rules = TaskFilter()
    reasons = {t.instruction: rules.check(t) for t in load_seed_tasks(lang=lang)}
    new_rules = {"non-letter start", "not an instruction", "blacklisted", "copies input"}
    assert not {i: r for i, r in reasons.items() if r in new_rules}
    assert len(reasons) >= 10

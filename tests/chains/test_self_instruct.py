"""Self-instruct on the fake model (keep rules, ROUGE-L de-dup, Korean, budgets) and on a tiny GPT-Neo (grammar)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult
from pydantic import Field
from rouge_score import rouge_scorer

from chains.self_instruct import (
    MAX_CHARS,
    SIMILARITY_THRESHOLD,
    AlpacaTask,
    NewTask,
    SeedFileError,
    SelfInstruct,
    TaskFilter,
    load_seed_tasks,
    load_tasks,
    rouge_l,
    task_writer,
)
from llms import FakeChatModel, load_model


def task_json(instruction: str, output: str = "An answer.", input: str = "") -> str:
    return json.dumps({"instruction": instruction, "input": input, "output": output}, ensure_ascii=False)


class RecordingFake(FakeChatModel):
    """The fake, also recording the per-call options (temperature, seed) each call received."""

    options: list[dict[str, Any]] = Field(default_factory=list)

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        self.options.append(dict(kwargs))
        return super()._generate(messages, stop, run_manager)


def test_shipped_seeds_are_alpaca_tasks_in_both_languages_and_mutually_distinct() -> None:
    english, korean = load_seed_tasks(lang="en"), load_seed_tasks(lang="ko")
    assert len(english) == 20 and len(korean) == 10
    assert english[0].instruction == "Brainstorm a list of possible New Year's resolutions."
    assert all(any("\uac00" <= ch <= "\ud7a3" for ch in t.instruction) for t in korean)
    seeds = english + korean
    # The seeds themselves pass the keep rule, or every near copy of one would be unfairly rejected.
    assert max(rouge_l(a.instruction, b.instruction) for i, a in enumerate(seeds) for b in seeds[i + 1 :]) < 0.7


def test_seed_file_errors_are_typed_and_name_the_place(tmp_path: Path) -> None:
    bad = tmp_path / "seeds.json"
    bad.write_text('[{"instruction": "Say hi.", "output": "hi"}, {"instruction": 3}]', encoding="utf-8")
    with pytest.raises(SeedFileError, match=r"seeds.json\[1\].*instruction"):
        load_seed_tasks(bad)
    bad.write_text('{"instruction": "x"}', encoding="utf-8")
    with pytest.raises(SeedFileError, match="JSON list"):
        load_tasks(bad)
    with pytest.raises(SeedFileError, match="not found"):
        load_tasks(tmp_path / "missing.json")
    good = tmp_path / "mine.jsonl"
    good.write_text(task_json("Say hello in French.", "Bonjour") + '\n{"instruction": "torn', encoding="utf-8")
    assert load_tasks(good) == [AlpacaTask(instruction="Say hello in French.", output="Bonjour")]
    with pytest.raises(SeedFileError, match="no seed tasks in 'ko'"):
        load_seed_tasks(good, lang="ko")


def test_rouge_l_is_rouge_scores_lcs_and_keeps_hangul() -> None:
    default = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    pairs = [("Brainstorm a list of possible New Year's resolutions.", "Brainstorm a list of New Year resolutions!"),
             ("Write a haiku about autumn leaves.", "Write a poem about the sea."),
             ("Find the largest number in the list.", "Tell whether the statement is true or false.")]
    for a, b in pairs:  # on English text our tokenizer gives rouge-score's own numbers
        assert rouge_l(a, b) == pytest.approx(default.score(a, b)["rougeL"].fmeasure)
    ko_a = "새해 결심으로 삼을 만한 목표를 다섯 가지 적어 보세요."
    ko_b = "새해 결심으로 삼을 목표 다섯 가지를 적어 주세요."
    assert default.score(ko_a, ko_b)["rougeL"].fmeasure == 0  # why we pass our own tokenizer
    assert rouge_l(ko_a, ko_b) >= SIMILARITY_THRESHOLD
    assert rouge_l("다음 문장을 영어로 번역하세요.", "가을 단풍에 관한 짧은 시를 써 주세요.") < 0.5


def test_filter_rules_empty_too_long_too_similar() -> None:
    rules = TaskFilter([AlpacaTask(instruction="Write a haiku about autumn leaves.", output="...")])
    new = NewTask(instruction="Describe how to plant a tomato seedling.", input="", output="Dig, plant, water.")
    assert rules.check(new) is None
    rules.add(new)
    assert rules.check(new) == "too similar"  # a kept task joins the pool
    assert rules.check(NewTask(instruction="Write a haiku about autumn leaves today.", input="", output="x y")) == (
        "too similar")
    assert rules.check(NewTask(instruction="          ", input="", output="fine")) == "empty"
    assert rules.check(NewTask(instruction="Name a colour of the sky.", input="", output=" ?! ")) == "empty"
    assert rules.check(NewTask(instruction=",<END_SEPARATOR>, write it", input="", output="ok")) == "non-letter start"
    assert rules.check(NewTask(instruction="새 작업: 하늘 색을 말해 주세요", input="", output="파랑")) is None
    cut = "Explain " + "very " * 40
    assert rules.check(NewTask(instruction=cut[: MAX_CHARS["instruction"]], input="", output="ok")) == "too long"
    assert rules.check(NewTask(instruction="Summarize the text.", input="", output="w" * MAX_CHARS["output"])) == (
        "too long")


def test_run_keeps_new_distinct_tasks_and_counts_each_rejection() -> None:
    seeds = load_seed_tasks(lang="en")
    model = FakeChatModel(responses=[
        task_json("Name three animals that live in the ocean.", "Whale, shark, octopus."),
        task_json(seeds[0].instruction, "copy of a seed"),                      # too similar to a seed
        "I cannot write JSON today.",                                            # invalid
        task_json("Name three animals that live in the desert.", "Camel, fox, lizard."),  # too similar to a kept one
        task_json("Explain what a leap year is.", "   "),                         # empty output
        task_json("Explain " + "very " * 40, "x"),                               # invalid: over the bound
        task_json("Suggest a title for a story about a lost robot.", "The Long Way Home"),
    ])
    kept: list[AlpacaTask] = []
    run = SelfInstruct(model, seeds, max_concurrency=1, max_attempts=1)
    result = run.run(n=2, max_calls=10, on_kept=kept.append)
    assert [t.instruction for t in result] == ["Name three animals that live in the ocean.",
                                               "Suggest a title for a story about a lost robot."]
    assert kept == result and run.calls == 7
    assert dict(run.rejected) == {"too similar": 2, "empty": 1, "too long": 0, "invalid": 2, "non-letter start": 0,
                                  "not an instruction": 0, "blacklisted": 0, "copies input": 0}


def test_run_stops_at_the_call_budget_and_shows_sampled_seeds() -> None:
    seeds = load_seed_tasks(lang="en")
    model = RecordingFake(responses=[task_json(seeds[1].instruction)])  # always a copy: never kept
    model.options.clear()
    run = SelfInstruct(model, seeds, max_concurrency=2, num_examples=3, temperature=0.7, seed=5)
    assert run.run(n=4) == [] and run.calls == 12  # 3 x n by default
    assert run.rejected["too similar"] == 12
    prompt = model.calls[0][-1].text
    shown = [line for line in prompt.splitlines() if line.startswith('{"instruction"')]
    assert len(shown) == 3 and all(AlpacaTask.model_validate_json(line) in seeds for line in shown)
    # Sampling options reach the model, with a new seed each round.
    assert {o["temperature"] for o in model.options} == {0.7}
    assert sorted({o["seed"] for o in model.options}) == [5, 7, 9, 11, 13, 15]


def test_a_resumed_run_draws_new_seeds_and_examples_while_a_rerun_repeats_itself() -> None:
    seeds = load_seed_tasks(lang="en")

    def first_round(existing: list[AlpacaTask]) -> tuple[list[int], list[str]]:
        model = RecordingFake(responses=[task_json(seeds[1].instruction)])
        model.options.clear()
        SelfInstruct(model, seeds, existing=existing, max_concurrency=2, seed=5).run(n=len(existing) + 1,
                                                                                  max_calls=2)
        # Sorted: the round's two prompts run in parallel, so the fake sees them in either order.
        return sorted(o["seed"] for o in model.options), sorted(call[-1].text for call in model.calls)

    earlier = [AlpacaTask(instruction="Plan a picnic menu for four people.", output="Sandwiches.")]
    fresh, again, resumed = first_round([]), first_round([]), first_round(earlier)
    assert fresh == again  # repeatable
    # Replaying the first run's seeds would redraw the tasks it already kept; a resume starts elsewhere.
    assert not set(resumed[0]) & set(fresh[0]) and resumed[1] != fresh[1]


def test_resumed_tasks_count_toward_n_and_block_duplicates() -> None:
    earlier = [AlpacaTask(instruction="Name three animals that live in the ocean.", output="Whale")]
    model = FakeChatModel(responses=[task_json("Name three animals that live in the ocean!"),
                                     task_json("Plan a picnic menu for four people.", "Sandwiches, fruit, lemonade.")])
    run = SelfInstruct(model, load_seed_tasks(lang="en"), existing=earlier, max_concurrency=1, max_attempts=1)
    run.run(n=2)
    assert [t.instruction for t in run.tasks] == [earlier[0].instruction, "Plan a picnic menu for four people."]
    assert run.rejected["too similar"] == 1 and run.calls == 2


def test_korean_run_uses_the_korean_prompt_and_catches_korean_duplicates() -> None:
    seeds = load_seed_tasks(lang="ko")
    model = FakeChatModel(responses=[
        task_json("좋아하는 계절을 고르고 그 이유를 설명하세요.", "가을이 좋아요. 선선하니까요."),
        task_json("새해 결심으로 삼을 목표 다섯 가지를 적어 주세요.", "운동하기"),  # a seed, reworded
        task_json("좋아하는 계절을 고르고 이유를 설명해 주세요.", "봄"),             # the first one, reworded
        task_json("서울에서 가 볼 만한 박물관 두 곳을 추천하세요.", "국립중앙박물관, 서울역사박물관"),
    ])
    run = SelfInstruct(model, seeds, max_concurrency=1, max_attempts=1)
    assert run.lang == "ko"
    assert [t.output for t in run.run(n=2)] == ["가을이 좋아요. 선선하니까요.", "국립중앙박물관, 서울역사박물관"]
    assert run.rejected["too similar"] == 2
    assert "새 작업" in model.calls[0][-1].text


def test_bad_arguments_are_errors() -> None:
    with pytest.raises(SeedFileError):
        SelfInstruct(FakeChatModel(), [])
    with pytest.raises(ValueError, match="n must be"):
        SelfInstruct(FakeChatModel(), load_seed_tasks(lang="en")).run(n=0)


def test_task_writer_on_tiny_gpt_neo_is_valid_by_grammar(roomy_tiny_dir: Path) -> None:
    tiny = load_model(f"hf:{roomy_tiny_dir}")
    seeds = load_seed_tasks(lang="en")
    writer = task_writer(tiny.bind(temperature=0.8, seed=1))
    out = writer.batch([{"examples": seeds[:2]}, {"examples": seeds[2:4]}])  # one batched generate
    assert len(out) == 2 and all(isinstance(t, NewTask) for t in out)
    for task in out:
        assert 10 <= len(task.instruction) <= MAX_CHARS["instruction"] and 1 <= len(task.output)
    run = SelfInstruct(tiny, seeds, max_concurrency=2)
    run.run(n=2, max_calls=2)
    assert run.calls == 2 and len(run.kept) + sum(run.rejected.values()) == 2


def test_answers_beyond_n_in_the_last_round_are_unused_not_rejected() -> None:
    model = FakeChatModel(responses=[task_json("Plan a picnic menu for four people."),
                                     task_json("Suggest a title for a story about a lost robot.")])
    run = SelfInstruct(model, load_seed_tasks(lang="en"), max_concurrency=3)
    assert len(run.run(n=1)) == 1
    assert run.calls == 3 and run.unused == 2 and sum(run.rejected.values()) == 0

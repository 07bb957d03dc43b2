"""The pairwise judge on the fake model (both orders, the combination rule, tallies, Korean) and a tiny GPT-Neo."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from langchain_core.messages import BaseMessage

from chains.judge import (
    Judgement,
    Tally,
    Verdict,
    Winner,
    answer_chain,
    combine,
    judge_pair,
    judge_pairs,
    swap,
    verdict_chain,
)
from llms import FakeChatModel, load_model


def verdict(winner: str, reason: str = "because") -> str:
    return json.dumps({"winner": winner, "reason": reason})


class PrefersGood(FakeChatModel):
    """A position-blind judge: picks whichever shown answer contains "good" (tie if none), wherever it stands."""

    def _next_text(self, messages: list[BaseMessage], stop: list[str] | None) -> tuple[str, str]:
        self.calls.append(list(messages))
        shown = messages[-1].text.split("### Answer A:")[1]
        first, second = shown.split("### Answer B:")
        return verdict("A" if "good" in first else "B" if "good" in second else "tie"), "stop"


def test_swap_and_the_combination_rule_over_every_pair_of_verdicts() -> None:
    assert [swap("A"), swap("B"), swap("tie")] == ["B", "A", "tie"]
    for first, second in itertools.product(["A", "B", "tie", None], repeat=2):
        expected = first if first == second and first in ("A", "B") else "tie"
        assert combine(first, second) == expected  # type: ignore[arg-type]


def test_tally_win_rate_arithmetic() -> None:
    # Alpaca vs text-davinci-003: 90 wins to 89, no ties counted -> just over half.
    a_wins: list[Winner] = ["A"] * 90
    b_wins: list[Winner] = ["B"] * 89
    alpaca = Tally.of(a_wins + b_wins)
    assert (alpaca.wins, alpaca.ties, alpaca.losses, alpaca.n) == (90, 0, 89, 179)
    assert alpaca.win_rate == pytest.approx(90 / 179)
    mixed = Tally.of(["A", "tie", "tie", "B", "B", "A", "A", "tie"])
    assert (mixed.wins, mixed.ties, mixed.losses) == (3, 3, 2)
    assert mixed.win_rate == pytest.approx((3 + 1.5) / 8)
    assert Tally.of([]).win_rate == 0.5 and Tally.of([]).to_dict()["n"] == 0


def test_both_orders_cancel_a_judge_that_always_picks_the_first_answer() -> None:
    judge = FakeChatModel(responses=[verdict("A")])
    items = [{"instruction": f"Task {i}", "answer_a": "good", "answer_b": "bad"} for i in range(3)]
    out = judge_pairs(judge, items)
    assert [j.winner for j in out] == ["tie"] * 3  # A when A is first, B when B is first: no agreement
    tally = Tally.of([j.winner for j in out], out)
    assert (tally.first_position, tally.verdicts) == (6, 6)


def test_the_second_order_is_mapped_back_to_the_real_answers() -> None:
    judge = PrefersGood()
    items = [{"instruction": "Say something nice.", "answer_a": "a good one", "answer_b": "meh"},
             {"instruction": "Say something nice.", "answer_a": "meh", "answer_b": "so good"},
             {"instruction": "Say something nice.", "answer_a": "meh", "answer_b": "meh too"}]
    out = judge_pairs(judge, items, max_concurrency=1)
    assert [j.winner for j in out] == ["A", "B", "tie"]
    assert out[1].first is not None and out[1].first.winner == "B"
    assert out[1].second is not None and out[1].second.winner == "A" and out[1].second_mapped == "B"
    # The second ask really showed B's answer first.
    second_prompt = judge.calls[3][-1].text
    assert second_prompt.index("so good") < second_prompt.index("meh")
    assert Tally.of([j.winner for j in out], out).first_position == 2


def test_a_failed_verdict_counts_as_a_tie_and_is_reported() -> None:
    judge = FakeChatModel(responses=["no idea"])  # never JSON, even when asked again
    (result,) = judge_pairs(judge, [{"instruction": "x", "answer_a": "1", "answer_b": "2"}], max_concurrency=1)
    assert result.winner == "tie" and result.first is None and result.second is None
    assert len(result.errors) == 2 and "OutputParseError" in result.errors[0]
    assert result.to_dict()["b_first_mapped"] is None


def test_judge_pair_runnable_and_korean_prompts() -> None:
    judge = FakeChatModel(responses=[verdict("A", "더 정확해요"), verdict("B", "더 정확해요")])
    item = {"instruction": "한국의 수도는 어디인가요?", "input": "", "answer_a": "서울", "answer_b": "부산"}
    result = (judge_pair(judge)).with_config(max_concurrency=1).invoke(item)
    assert isinstance(result, Judgement)
    assert result.winner == "A" and result.first == Verdict(winner="A", reason="더 정확해요")
    assert "### 답변 A:" in judge.calls[0][-1].text and "서울" in judge.calls[0][-1].text
    english = FakeChatModel(responses=[verdict("tie")])
    verdict_chain(english).invoke({"instruction": "Add 2 and 2.", "input": "2, 2", "answer_a": "4", "answer_b": "5"})
    assert "### Answer A:" in english.calls[0][-1].text and "Add 2 and 2.\n\n2, 2" in english.calls[0][-1].text


def test_answer_chain_uses_alpacas_prompt_and_stops_at_the_next_block() -> None:
    model = FakeChatModel(responses=["Paris.\n### Instruction:\nmore"])
    ask = answer_chain(model)
    assert ask.invoke({"instruction": "What is the capital of France?"}) == "Paris."
    assert model.calls[0][-1].text.endswith("### Instruction:\nWhat is the capital of France?\n\n### Response:")
    ask.invoke({"instruction": "다음 문장을 영어로 번역하세요.", "input": "안녕하세요"})
    assert "### 입력:\n안녕하세요" in model.calls[1][-1].text


def test_judge_on_tiny_gpt_neo_gives_valid_verdicts_by_grammar(tmp_path_factory: pytest.TempPathFactory) -> None:
    from tests.tiny import tiny_gpt_neo

    model, tokenizer = tiny_gpt_neo(max_positions=2048)  # the 400-token vocabulary makes prompts long
    directory: Path = tmp_path_factory.mktemp("tiny-judge")
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    tiny = load_model(f"hf:{directory}")
    items = [{"instruction": "Name a fruit.", "input": "", "answer_a": "Apple.", "answer_b": "A car."},
             {"instruction": "과일 하나를 말해 주세요.", "input": "", "answer_a": "사과", "answer_b": "자동차"}]
    out = judge_pairs(tiny, items)
    assert all(isinstance(j.first, Verdict) and isinstance(j.second, Verdict) for j in out)
    assert all(not j.errors and j.winner in ("A", "B", "tie") for j in out)
    answers = answer_chain(tiny, max_new_tokens=8).batch(items)  # one batched generate
    assert len(answers) == 2 and all(isinstance(a, str) for a in answers)

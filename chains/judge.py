"""Pairwise preference, as InstructGPT and Alpaca were judged (Alpaca vs text-davinci-003 came out 90 : 89):
a judge model reads one instruction and two answers and says which is better (A, B or tie, with a reason).

Judges favour a position, so every pair is judged twice, A shown first and then B shown first, and the second
verdict is mapped back to the real A/B. Rule: both verdicts A -> A wins; both B -> B wins; anything else
(disagreement, a tie, a verdict that failed) -> tie. The win rate counts a tie as half a win: (wins + ties/2) / n.

>>> from llms import load_model
>>> judge = load_model('fake:{"winner": "A", "reason": "more specific"}|{"winner": "B", "reason": "same"}')
>>> item = {"instruction": "Name a fruit.", "answer_a": "Apple.", "answer_b": "A car."}
>>> judge_pairs(judge, [item], max_concurrency=1)[0].winner  # A first: "A"; B first: "B", i.e. A again
'A'
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from langchain_core.exceptions import OutputParserException
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from pydantic import BaseModel, ConfigDict, Field

from chains.language import detect_language
from core.text import one_line

__all__ = [
    "ANSWER_TOKENS",
    "VERDICT_TOKENS",
    "Judgement",
    "Tally",
    "Verdict",
    "Winner",
    "answer_chain",
    "combine",
    "instruction_text",
    "judge_pair",
    "judge_pairs",
    "swap",
    "verdict_chain",
]

Winner = Literal["A", "B", "tie"]
REASON_CHARS = 200
# A character per token covers English; byte-level tokenizers may need 3 tokens per Korean character.
VERDICT_TOKENS = 3 * REASON_CHARS + 40
ANSWER_TOKENS = 128


class Verdict(BaseModel):
    """The judge's answer for one ordering of the two answers."""

    model_config = ConfigDict(frozen=True)

    winner: Winner
    reason: str = Field(max_length=REASON_CHARS)


def swap(winner: Winner) -> Winner:
    """The same verdict with the positions exchanged: A <-> B, tie stays."""
    return "B" if winner == "A" else "A" if winner == "B" else "tie"


def combine(first: Winner | None, second: Winner | None) -> Winner:
    """Both orders agree on A or on B -> that side; otherwise (or a failed verdict, None) -> tie.

    `second` must already be mapped back to the real A/B (see `swap`).

    >>> combine("A", "A"), combine("A", "B"), combine("B", "B"), combine("A", None)
    ('A', 'tie', 'B', 'tie')
    """
    return first if first is not None and first == second and first != "tie" else "tie"


@dataclass(frozen=True)
class Judgement:
    """Both verdicts for one pair and the combined winner; `second` is as the judge said it (B shown as A)."""

    winner: Winner
    first: Verdict | None
    second: Verdict | None
    errors: tuple[str, ...] = ()

    @property
    def second_mapped(self) -> Winner | None:
        return swap(self.second.winner) if self.second is not None else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "winner": self.winner,
            "a_first": self.first.model_dump() if self.first else None,
            "b_first": self.second.model_dump() if self.second else None,
            "b_first_mapped": self.second_mapped,
            "errors": list(self.errors),
        }


@dataclass(frozen=True)
class Tally:
    """Wins / ties / losses of A against B, and A's win rate (a tie counts half).

    >>> t = Tally.of(["A", "B", "tie", "A"])
    >>> (t.wins, t.ties, t.losses, t.win_rate)
    (2, 1, 1, 0.625)
    """

    wins: int = 0
    ties: int = 0
    losses: int = 0
    first_position: int = field(default=0, compare=False)  # verdicts that chose the answer shown first
    verdicts: int = field(default=0, compare=False)

    @classmethod
    def of(cls, winners: Iterable[Winner], judgements: Iterable[Judgement] = ()) -> Tally:
        counted = list(winners)
        first = total = 0
        for j in judgements:
            for verdict in (j.first, j.second):
                if verdict is not None:
                    total += 1
                    first += verdict.winner == "A"  # in both orders "A" names the answer shown first
        return cls(counted.count("A"), counted.count("tie"), counted.count("B"), first, total)

    @property
    def n(self) -> int:
        return self.wins + self.ties + self.losses

    @property
    def win_rate(self) -> float:
        """(wins + ties / 2) / n; 0.5 when nothing was judged."""
        return (self.wins + self.ties / 2) / self.n if self.n else 0.5

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "wins": self.wins, "ties": self.ties, "losses": self.losses,
                "win_rate": round(self.win_rate, 4), "first_position_verdicts": self.first_position,
                "verdicts": self.verdicts}


def instruction_text(item: dict[str, Any]) -> str:
    """The instruction as the judge reads it, with its input (if any) below."""
    instruction, extra = str(item["instruction"]).strip(), str(item.get("input") or "").strip()
    return f"{instruction}\n\n{extra}" if extra else instruction


def _lang(item: dict[str, Any], lang: str | None) -> str:
    return lang or detect_language(str(item["instruction"]))


def answer_chain(
    model: Runnable[Any, Any], *, lang: str | None = None, max_new_tokens: int = ANSWER_TOKENS
) -> Runnable[dict[str, Any], str]:
    """``{"instruction", "input"?}`` -> the model's answer, asked with Alpaca's prompt in the item's language."""
    from llms.limits import with_max_tokens
    from prompts import get

    def to_prompt(item: dict[str, Any]) -> PromptValue:
        code, extra = _lang(item, lang), str(item.get("input") or "").strip()
        if extra:
            return get("alpaca_instruction_input", lang=code).invoke({"instruction": item["instruction"],
                                                                     "input": extra})
        return get("alpaca_instruction", lang=code).invoke({"instruction": item["instruction"]})

    # Base models carry on with the next "### Instruction:" block; stop there.
    answer = with_max_tokens(model, max_new_tokens).bind(stop=["\n### "])
    return RunnableLambda(to_prompt, name="alpaca_prompt") | answer | StrOutputParser() | RunnableLambda(str.strip)


def verdict_chain(
    model: Runnable[Any, Any], *, lang: str | None = None, max_new_tokens: int = VERDICT_TOKENS
) -> Runnable[dict[str, Any], Verdict]:
    """``{"instruction", "input"?, "answer_a", "answer_b"}`` -> one `Verdict` for that order (no swapping)."""
    from llms.limits import with_max_tokens
    from llms.structured import constrained
    from prompts import get

    def to_prompt(item: dict[str, Any]) -> PromptValue:
        return get("judge", lang=_lang(item, lang)).invoke(
            {"instruction": instruction_text(item), "answer_a": item["answer_a"], "answer_b": item["answer_b"]}
        )

    return RunnableLambda(to_prompt, name="judge_prompt") | constrained(with_max_tokens(model, max_new_tokens), Verdict)


def _error(err: BaseException) -> str:
    return one_line(f"{type(err).__name__}: {err}", limit=300)


def judge_pairs(
    model: Runnable[Any, Any],
    items: Sequence[dict[str, Any]],
    *,
    lang: str | None = None,
    max_concurrency: int = 4,
    max_new_tokens: int = VERDICT_TOKENS,
) -> list[Judgement]:
    """Judge every item in both orders with one `.batch` (one batched generate on local models).

    A verdict that cannot be parsed counts as no vote (so a tie); a failing model call raises.
    """
    chain = verdict_chain(model, lang=lang, max_new_tokens=max_new_tokens)
    asks = [o for item in items for o in (item, {**item, "answer_a": item["answer_b"], "answer_b": item["answer_a"]})]
    out = chain.batch(asks, {"max_concurrency": max_concurrency}, return_exceptions=True)
    judgements = []
    for failed in out:
        if isinstance(failed, BaseException) and not isinstance(failed, OutputParserException):
            raise failed  # the model itself failed: no verdict to count
    for first, second in zip(out[::2], out[1::2], strict=True):
        errors = tuple(_error(v) for v in (first, second) if isinstance(v, BaseException))
        one = cast(Verdict, first) if isinstance(first, Verdict) else None
        two = cast(Verdict, second) if isinstance(second, Verdict) else None
        winner = combine(one.winner if one else None, swap(two.winner) if two else None)
        judgements.append(Judgement(winner, one, two, errors))
    return judgements


def judge_pair(model: Runnable[Any, Any], *, lang: str | None = None) -> Runnable[dict[str, Any], Judgement]:
    """The Runnable form for one item: ``{"instruction", "answer_a", "answer_b"}`` -> `Judgement`; the config's
    ``max_concurrency`` applies to its two asks (``with_config(max_concurrency=1)`` asks them in order)."""

    def one(item: dict[str, Any], config: RunnableConfig) -> Judgement:
        limit = config.get("max_concurrency") or 4
        return judge_pairs(model, [item], lang=lang, max_concurrency=limit)[0]

    return RunnableLambda(one, name="judge_pair")

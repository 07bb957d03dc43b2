"""Self-instruct's keep rules (the Self-Instruct and Alpaca pipelines' filters), Korean included: a new task is
rejected if it is empty, cut at a length limit, starts with a non-letter, is no instruction, asks for what a
text model cannot give (images, files, audio...), copies its input, or is too similar (ROUGE-L) to a kept one.

>>> rules = TaskFilter()
>>> rules.check(Task("She doesn't like going to school on Mondays.", "", "Okay."))
'not an instruction'
>>> rules.check(Task("Draw a map of your town.", "", "Okay.")), rules.check(Task("이 문장을 번역해 주세요.", "", "Hi."))
('blacklisted', None)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from chains.language import detect_language
from core.text import HANGUL_RANGES, is_hangul

__all__ = [
    "BLACKLIST",
    "MAX_CHARS",
    "REJECT_REASONS",
    "SIMILARITY_THRESHOLD",
    "Task",
    "TaskFilter",
    "TaskLike",
    "copies_input",
    "is_blacklisted",
    "is_statement",
    "not_an_instruction",
    "rouge_l",
    "starts_badly",
]

SIMILARITY_THRESHOLD = 0.7  # self-instruct's rule: keep only if ROUGE-L F1 to every kept instruction is below
MAX_CHARS = {"instruction": 150, "input": 160, "output": 240}
# Every reason `TaskFilter.check` can give, plus "invalid" (an answer that did not parse), in report order.
REJECT_REASONS = ("too similar", "empty", "too long", "invalid", "non-letter start", "not an instruction",
                  "blacklisted", "copies input")
# Self-Instruct's and Alpaca's list (generate_instruction.py): tasks a text-only model cannot do. "plot" and
# "go to" cost some good tasks there too; we keep the published list. Korean: the same kinds, leaving out words
# that are also common in text tasks (지도 is "map" and "guidance"; 그리고 is "and").
BLACKLIST = ("image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map", "maps", "draw",
             "plot", "go to", "video", "audio", "music", "flowchart", "diagram")
_BLACKLIST_EN = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in BLACKLIST) + r")\b", re.IGNORECASE)
_BLACKLIST_KO = re.compile("이미지|사진|그래프|동영상|비디오|오디오|음악|순서도|다이어그램|파일|그림(?!자)|그려")
# Self-instruct drops instructions of 3 words or fewer; Korean glues particles to words, so 2 make a task there.
MIN_WORDS = {"en": 4, "ko": 2}


class TaskLike(Protocol):
    """What the rules read: an `AlpacaTask`, a `NewTask` or `Task`."""

    @property
    def instruction(self) -> str: ...
    @property
    def input(self) -> str: ...
    @property
    def output(self) -> str: ...


@dataclass(frozen=True)
class Task:
    """A plain task for the rules on their own (the recipe passes its pydantic tasks)."""

    instruction: str
    input: str
    output: str


# -- the text rules -----------------------------------------------------------------------------------------------
def starts_badly(instruction: str) -> bool:
    """Starts with punctuation, a digit or a symbol (Self-Instruct drops "1. Write...", ", write it"); any
    letter is fine, Hangul included (Alpaca's "not ASCII" rule would drop every Korean task)."""
    text = instruction.strip()
    return not text or not text[0].isalpha()


_SENTENCE_END = re.compile(r"(?<=[.!?。])\s+")
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
_PRONOUNS = frozenset("i you he she it we they there".split())
_DETERMINERS = frozenset("the a an my our your his her their its this that these those".split())
_QUESTION = frozenset("what who whom whose which when where why how".split())
_AUX = frozenset(
    "is are was were am has have had does do did can could will would should must may might isn't aren't wasn't "
    "weren't hasn't haven't hadn't doesn't don't didn't can't couldn't won't wouldn't shouldn't".split()
)
# Korean requests end in -세요, -십시오, -하라, -줘...; a plain "-다." is a statement unless it is one of the request
# forms that also end in 다: -ㅂ시다 (let's), -기 바랍니다 / 바란다 (please do).
_KO_STATEMENT = re.compile(r"다[.!]?$")
_KO_REQUEST_IN_DA = re.compile(r"(?:시다|바랍니다|바란다)[.!]?$")


def _sentence_is_statement(sentence: str) -> bool:
    text = sentence.strip().strip("\"'\u201c\u201d\u2018\u2019")  # curly quotes around a quoted sentence
    if not text or text.endswith(("?", ":", "\uff1f")):  # \uff1f: the full-width question mark
        return False
    if any(is_hangul(ch) for ch in text):
        return bool(_KO_STATEMENT.search(text)) and not _KO_REQUEST_IN_DA.search(text)
    if not text.endswith((".", "!")):
        return False  # a heading-like "Name three fruits" is an instruction without a full stop
    words = [w.lower() for w in _WORD.findall(text)]
    if len(words) < 2 or words[0] in _QUESTION:
        return False
    # "She doesn't like...", "There is...": a subject first; "Paris is...", "The sky is...": a verb of being or
    # having right after the subject. An imperative starts with its verb, so it matches neither.
    if words[0].split("'")[0] in _PRONOUNS:  # "I'll", "It's": the pronoun before the apostrophe
        return True
    return words[1] in _AUX or (words[0] in _DETERMINERS and len(words) > 2 and words[2] in _AUX)


def is_statement(instruction: str) -> bool:
    """Every sentence is a plain statement ("She doesn't like going to school on Mondays.", "오늘은 월요일이다.");
    one request or question among them ("You are given a list. Sort it.") makes it an instruction."""
    sentences = [s for s in _SENTENCE_END.split(instruction.strip()) if s.strip()]
    return bool(sentences) and all(_sentence_is_statement(s) for s in sentences)


def not_an_instruction(instruction: str) -> bool:
    """Too short to be a task (3 words or fewer; 1 in Korean) or a statement rather than a request."""
    return len(instruction.split()) < MIN_WORDS[detect_language(instruction)] or is_statement(instruction)


def is_blacklisted(instruction: str) -> bool:
    """Asks for an image, graph, file, audio, video, map, drawing... which a text model cannot produce or read."""
    return bool(_BLACKLIST_EN.search(instruction) or _BLACKLIST_KO.search(instruction))


def _norm(text: str) -> str:
    return " ".join(text.casefold().split()).strip(" .,!?;:\"'()[]")


def copies_input(task: TaskLike) -> bool:
    """The output is the input, or most of it (half or more, 10 characters or more) copied: nothing was done to
    it. A short piece is an answer ("45" from "12, 7, 45, 3, 29"), so it stays."""
    given, answer = _norm(task.input), _norm(task.output)
    if not given:
        return False
    return answer == given or (answer in given and len(answer) >= max(10, len(given) / 2))


# -- ROUGE-L ------------------------------------------------------------------------------------------------------
# Hangul syllables are single tokens: Korean glues particles to words (영화를 / 영화가), so whole-word tokens
# miss near-duplicates, and rouge_score's default tokenizer drops non-ASCII letters altogether.
_TOKEN = re.compile(f"[{HANGUL_RANGES}]|[^\\W_{HANGUL_RANGES}]+")


@lru_cache(maxsize=65536)
def _tokens(text: str) -> tuple[str, ...]:
    return tuple(_TOKEN.findall(text.lower()))


class _RougeTokenizer:
    """rouge_score's tokenizer protocol: lowercase words; Hangul by syllable (cached: texts recur in every test)."""

    def tokenize(self, text: str) -> list[str]:
        return list(_tokens(text))


@lru_cache(maxsize=1)
def _scorer() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False, tokenizer=_RougeTokenizer())


def rouge_l(a: str, b: str) -> float:
    """ROUGE-L F1 of two texts (rouge-score's LCS), Korean included.

    >>> round(rouge_l("새해 결심 목록을 만들어 주세요", "새해 결심 목록을 만들어 줘"), 2), rouge_l("a b", "c d")
    (0.83, 0.0)
    """
    return float(_scorer().score(a, b)["rougeL"].fmeasure)


class TaskFilter:
    """Self-instruct's keep rules over a growing pool of instructions: `check` says why a task is rejected."""

    def __init__(self, kept: Iterable[TaskLike] = (), threshold: float = SIMILARITY_THRESHOLD) -> None:
        self.threshold = threshold
        self._pool: list[str] = [t.instruction for t in kept]

    def check(self, task: TaskLike) -> str | None:
        """None to keep, else the first reason that applies, cheapest first (see `REJECT_REASONS`)."""
        instruction = task.instruction.strip()
        if not instruction or not task.output.strip() or not any(c.isalnum() for c in task.output):
            return "empty"
        if starts_badly(instruction):
            return "non-letter start"
        # A field that reached its ceiling was cut there by the grammar (or would fail validation): not a task.
        if any(len(getattr(task, name)) >= limit for name, limit in MAX_CHARS.items()):
            return "too long"
        if not_an_instruction(instruction):
            return "not an instruction"
        if is_blacklisted(instruction):
            return "blacklisted"
        if copies_input(task):
            return "copies input"
        if any(rouge_l(task.instruction, seen) >= self.threshold for seen in self._pool):
            return "too similar"
        return None

    def add(self, task: TaskLike) -> None:
        self._pool.append(task.instruction)

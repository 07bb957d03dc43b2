"""The playground's apps as generators of updates (answer so far, step rows, JSON), with no UI code in them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from apps.serve_steps import StepRecorder
from core.errors import RecipesError

__all__ = ["APPS", "LANGS", "MAX_INPUT_CHARS", "PlaygroundInputError", "Update", "run_recipe"]

# name -> (what the input box asks, an example answer)
APPS: dict[str, tuple[str, str]] = {
    "movie-night": ("What movie genres do you like? / 좋아하는 영화 장르는 무엇인가요?", "I love sci-fi and horror"),
    "perfect-day": ("Which city? / 어느 도시인가요?", "Paris"),
    "translate": ("An English word or phrase (to French, zero-, one- and few-shot)", "cheese"),
    "json-qa": ("A question (answered as validated JSON)", "What is the capital of France?"),
    "chat": ("Your message (the history is kept until 'Clear chat')", "Hello! Who are you?"),
}
LANGS = ("auto", "en", "ko")
MAX_INPUT_CHARS = 2000  # one field typed into a page; the models' context is far smaller anyway


class PlaygroundInputError(RecipesError, ValueError):
    """An app, language or text the playground cannot run."""


@dataclass
class Update:
    """What the page shows after each streamed piece."""

    text: str
    steps: list[list[Any]]
    result: dict[str, Any]
    history: list[dict[str, str]] = field(default_factory=list)


def _check(app: str, lang: str, text: str) -> str:
    if app not in APPS:
        raise PlaygroundInputError(f"unknown app {app!r}: choose one of {', '.join(APPS)}")
    if lang not in LANGS:
        raise PlaygroundInputError(f"unknown language {lang!r}: choose one of {', '.join(LANGS)}")
    text = (text or "").strip()
    if not text:
        raise PlaygroundInputError(f"nothing to run: {APPS[app][0]}")
    if len(text) > MAX_INPUT_CHARS:
        raise PlaygroundInputError(f"the input is {len(text)} characters; the playground takes {MAX_INPUT_CHARS}")
    return text


def _code(lang: str, text: str) -> str:
    from chains.language import detect_language

    return detect_language(text) if lang == "auto" else lang


def run_recipe(
    app: str,
    model: Any,
    text: str,
    lang: str = "auto",
    *,
    history: Sequence[dict[str, str]] = (),
    max_new_tokens: int = 128,
) -> Iterator[Update]:
    """Run `app` on `text` with `model`, yielding an `Update` each time there is more to show."""
    text = _check(app, lang, text)
    recorder = StepRecorder()
    config: Any = {"callbacks": [recorder]}
    runners = {
        "movie-night": _movie_night, "perfect-day": _perfect_day, "translate": _translate, "json-qa": _json_qa,
        "chat": _chat,
    }  # fmt: skip
    last: Piece | None = None
    for last in runners[app](model, text, lang, config, list(history), max_new_tokens):
        yield Update(last[0], recorder.rows(), last[1], last[2])
    if last is not None:  # the steps' end events fire after the last streamed piece: show their outputs and times
        yield Update(last[0], recorder.rows(), last[1], last[2])


Piece = tuple[str, dict[str, Any], list[dict[str, str]]]


def _movie_night(model: Any, text: str, lang: str, config: Any, history: list[Any], cap: int) -> Iterator[Piece]:
    from apps.movie_night import genres_line, pick_lines
    from chains.movies import movie_night

    code = _code(lang, text)
    recipe = movie_night(model, lang=None if lang == "auto" else lang)
    state: dict[str, Any] = {}
    for chunk in recipe.stream({"answer": text}, config):
        state.update(chunk)
        picks = state.get("recommendations") or state.get("picks") or []
        lines = [genres_line(state["genres"], code), *pick_lines(picks, code)]
        yield "\n".join(lines), {"lang": code, **state}, history


def _perfect_day(model: Any, text: str, lang: str, config: Any, history: list[Any], cap: int) -> Iterator[Piece]:
    from chains.itinerary import perfect_day
    from llms.limits import with_max_tokens

    code = _code(lang, text)
    answer = ""
    capped: Any = with_max_tokens(model, cap)  # a Runnable: the chain functions take it as their model
    for piece in perfect_day(capped, lang=code).stream({"city": text}, config):
        answer += piece
        yield answer, {"city": text, "lang": code, "answer": answer}, history


def _translate(model: Any, text: str, lang: str, config: Any, history: list[Any], cap: int) -> Iterator[Piece]:
    from langchain_core.runnables import RunnableParallel

    from chains.translation import MODES, translate
    from llms.limits import with_max_tokens

    code = "ko" if lang == "ko" else "en"  # the instructions' language; the answer is French either way
    short: Any = with_max_tokens(model, min(cap, 24))  # one word or phrase: the first line is kept
    modes = RunnableParallel({m: translate(short, mode=m, lang=code).with_config(run_name=f"{m}-shot") for m in MODES})
    answers: dict[str, str] = {}
    for chunk in modes.stream({"word": text}, config):
        answers.update(chunk)
        shown = "\n".join(f"{m}-shot: {answers[m] or '(empty)'}" for m in MODES if m in answers)
        yield shown, {"word": text, **answers}, history


def _json_qa(model: Any, text: str, lang: str, config: Any, history: list[Any], cap: int) -> Iterator[Piece]:
    import json

    from chains.answers import json_qa

    answer = json_qa(model, lang=_code(lang, text)).invoke({"question": text}, config).model_dump()
    yield json.dumps(answer, ensure_ascii=False), {"question": text, **answer}, history


def _chat(model: Any, text: str, lang: str, config: Any, history: list[Any], cap: int) -> Iterator[Piece]:
    from chains.conversation import History, chat
    from llms.limits import with_max_tokens

    past = History()
    for turn in history:
        past = past.turn(turn["user"], turn["assistant"])
    capped: Any = with_max_tokens(model, cap)
    bot = chat(capped, lang=_code(lang, text))
    reply = ""
    for chunk in bot.stream({"history": list(past.messages), "input": text}, config):
        reply += chunk.text
        turns = [*history, {"user": text, "assistant": reply}]
        yield reply, {"turns": turns}, turns

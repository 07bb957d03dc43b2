"""Movie night, the seed's flagship: favourite genres (step 1) -> grounded movie picks with reasons (step 2).

On the 135M embedded model an unguided chain loops ("The Matrix" x18), so each step is grounded: step 1 answers
with genres from the catalogue's fixed list (constrained decoding on local models), and explicit genre words in
the user's answer win over the model's guess; step 2 picks only among catalogue candidates for those genres, and
repeated picks are dropped and topped up from the candidates (labelled as such). Answers follow the input language.
Each recommendation says whose it is: ``pick_source`` and ``reason_source`` are ``"model"`` or ``"catalogue"``
(a top-up pick; catalogue facts in place of a reason that was too short or in another language).

>>> from llms import load_model
>>> fake = load_model('fake:{"comedy": ["Home Alone", "Home Alone", "Home Alone"]}|Warm and funny for all.')
>>> [r["title"] for r in movie_night(fake).invoke({"answer": "I like comedies"})["recommendations"]]
['Home Alone', 'Shaun of the Dead', 'The Grand Budapest Hotel']
"""

from __future__ import annotations

import re
from typing import Any, Literal, cast

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable, RunnableLambda
from pydantic import BaseModel, Field, create_model

from chains.catalogue import Catalogue, Lang, Movie, load_catalogue
from chains.composition import SequentialRecipe, Step, sequential
from chains.language import detect_language

__all__ = ["MIN_PICKS", "movie_night", "movie_night_classic", "movie_night_lcel", "usable_reason"]

MIN_PICKS = 3
_REASON_CHARS = 120
_JSON_TOKENS = 256  # worst case of the grammar-bounded JSON answers below (a character per token)


def _genre_schema(catalogue: Catalogue, max_genres: int) -> type[BaseModel]:
    genre = Literal[tuple(catalogue.genres())]  # type: ignore[valid-type]
    return create_model(
        "FavoriteGenres", genres=(list[genre], Field(min_length=1, max_length=max_genres))  # type: ignore[valid-type]
    )


def _picks_schema(pool: dict[str, list[str]], per_genre: int) -> type[BaseModel]:
    """One required field per genre whose value is ``per_genre`` titles from that genre's candidates only."""
    fields: dict[str, Any] = {
        f"g{i}": (list[Literal[tuple(titles)]], Field(min_length=per_genre, max_length=per_genre, alias=genre))  # type: ignore[valid-type,misc]
        for i, (genre, titles) in enumerate(pool.items())
    }
    return create_model("Picks", **fields)


def _lang(values: dict[str, Any], fixed: str | None) -> Lang:
    return cast(Lang, fixed or detect_language(values["answer"]))


def _step_genres(model: BaseChatModel, catalogue: Catalogue, lang: str | None, max_genres: int) -> Runnable:
    from llms.limits import with_max_tokens
    from llms.structured import constrained
    from prompts import get

    schema = _genre_schema(catalogue, max_genres)
    # The grammar bounds the answer (<= max_genres names from a fixed list); give it room whatever the user's cap.
    ask = constrained(with_max_tokens(model, _JSON_TOKENS), schema)

    def run(values: dict[str, Any]) -> list[str]:
        answer, code = values["answer"], _lang(values, lang)
        # Genre words the user wrote are facts: take them as they are. The model decides only when the answer
        # names no genre ("films that make me laugh"), choosing from the catalogue's list under a grammar.
        named = catalogue.match_genres(answer)[:max_genres]
        if named:
            return named
        listed = ", ".join(f"{g} ({catalogue.genre_label(g, 'ko')})" if code == "ko" else g for g in catalogue.genres())
        guessed = ask.invoke(get("movie_genres", lang=code).invoke({"answer": answer, "genre_list": listed}))
        return list(dict.fromkeys(guessed.genres))

    return RunnableLambda(run, name="genres")


def _step_picks(model: BaseChatModel, catalogue: Catalogue, lang: str | None, per_genre: int) -> Runnable:
    from llms.limits import with_max_tokens
    from llms.structured import constrained
    from prompts import get

    def run(values: dict[str, Any]) -> list[dict[str, Any]]:
        code, genres = _lang(values, lang), values["genres"]
        pool: dict[str, list[Movie]] = catalogue.candidates(genres, per_genre=per_genre)
        name = (lambda m: m.title) if code == "en" else (lambda m: m.title_ko)
        by_name = {name(m): m for group in pool.values() for m in group}
        each = -(-MIN_PICKS // len(pool))  # enough per genre for MIN_PICKS in all
        schema = _picks_schema({g: [name(m) for m in group] for g, group in pool.items()}, each)
        prompt = get("movie_picks", lang=code).invoke({
            "genres": ", ".join(catalogue.genre_label(g, code) for g in pool),
            "candidates": "\n".join(f"- {m.label(code)}" for group in pool.values() for m in group),
        })
        picked = constrained(with_max_tokens(model, _JSON_TOKENS), schema).invoke(prompt)
        chosen: dict[str, dict[str, Any]] = {}
        for i, genre in enumerate(pool):
            for title in getattr(picked, f"g{i}"):  # repetition control: a title picked twice counts once
                chosen.setdefault(title, _row(by_name[title], code, genre, "model"))
        for genre, group in pool.items():  # top up from the grounded candidates, saying so
            for movie in group:
                if len(chosen) >= MIN_PICKS:
                    break
                chosen.setdefault(name(movie), _row(movie, code, genre, "catalogue"))
        return list(chosen.values())

    return RunnableLambda(run, name="picks")


_WHY = {
    "en": 'In one sentence, why would a fan of {genre} movies enjoy "{title}" ({year})?',
    "ko": '{genre} 영화를 좋아하는 사람이 "{title}"({year})을 좋아할 이유를 한 문장으로 말해 주세요.',
}
_FACT = {"en": "a {year} {genre} film from the catalogue", "ko": "{year}년 {genre} 영화 (카탈로그)"}


# A run of one character (에에에에, !!!!) or U+FFFD (a character cut at the token cap) is not a sentence.
_DEGENERATE = re.compile(r"(.)\1{3,}|\ufffd")


def usable_reason(sentence: str, lang: str) -> bool:
    """Whether the model's reason is kept: a sentence (12+ characters) in the answer's language, not degenerate.

    >>> usable_reason("A tense, clever thriller.", "en"), usable_reason("2004년봏에에에에에", "ko")
    (True, False)
    """
    return len(sentence) >= 12 and detect_language(sentence) == lang and not _DEGENERATE.search(sentence)


def _step_reasons(model: BaseChatModel, catalogue: Catalogue, lang: str | None) -> Runnable:
    from langchain_core.output_parsers import StrOutputParser

    from chains.translation import first_line
    from llms.limits import with_max_tokens

    # One sentence is ~30 tokens; the cap also bounds a small model that never writes a newline.
    one_line = with_max_tokens(model, 48).bind(stop=["\n"]) | StrOutputParser() | RunnableLambda(first_line)

    def run(values: dict[str, Any]) -> list[dict[str, Any]]:
        code, picks = _lang(values, lang), values["picks"]
        asks = [
            _WHY[code].format(genre=catalogue.genre_label(p["genre"], code), title=p["title"], year=p["year"])
            for p in picks
        ]
        reasons = one_line.batch(asks)  # one batched generate on local models
        rows = []
        for pick, reason in zip(picks, reasons, strict=True):
            # The 135M model often drifts into another language, says nothing or repeats itself: then state facts.
            if not usable_reason(reason, code):
                reason = _FACT[code].format(year=pick["year"], genre=catalogue.genre_label(pick["genre"], code))
                pick = {**pick, "reason_source": "catalogue"}
            rows.append({**pick, "reason": reason[:_REASON_CHARS * 2]})
        return rows

    return RunnableLambda(run, name="reasons")


def _row(movie: Movie, lang: Lang, genre: str, source: str) -> dict[str, Any]:
    return {
        "title": movie.title if lang == "en" else movie.title_ko,
        "title_en": movie.title,
        "year": movie.year,
        "genre": genre,
        "genres": list(movie.genres),
        "pick_source": source,
        "reason_source": "model",
    }


def movie_night(
    model: BaseChatModel,
    *,
    lang: str | None = None,
    max_genres: int = 3,
    per_genre: int = 5,
    verbose: bool = False,
    catalogue: Catalogue | None = None,
) -> SequentialRecipe:
    """Input ``{"answer": "<what genres you like>"}``; output adds ``genres`` and ``recommendations``.

    `lang` None follows the answer's language (English or Korean).
    """
    catalogue = catalogue or load_catalogue()
    return sequential(
        Step("genres", _step_genres(model, catalogue, lang, max_genres), "genres", input_keys=["answer"]),
        Step("picks", _step_picks(model, catalogue, lang, per_genre), "picks", input_keys=["answer", "genres"]),
        Step(
            "recommendations",
            _step_reasons(model, catalogue, lang),
            "recommendations",
            input_keys=["answer", "picks"],
        ),
        inputs=["answer"],
        verbose=verbose,
        name="movie_night",
    )


def movie_night_lcel(model: BaseChatModel, lang: str = "en") -> Runnable[dict[str, Any], dict[str, Any]]:
    """The same two steps in plain LCEL with ``RunnablePassthrough.assign`` (no key checks, for comparison)."""
    from langchain_core.runnables import RunnablePassthrough

    catalogue = load_catalogue()
    return (
        RunnablePassthrough.assign(genres=_step_genres(model, catalogue, lang, 3))
        | RunnablePassthrough.assign(picks=_step_picks(model, catalogue, lang, 5))
        | RunnablePassthrough.assign(recommendations=_step_reasons(model, catalogue, lang))
    )


def movie_night_classic(llm: Any, lang: str = "en", *, verbose: bool = True, simple: bool = True) -> Any:
    """The course-material version: two `LLMChain`s in a `SimpleSequentialChain` (text in, text out), or with
    ``simple=False`` a `SequentialChain` with named keys ``answer -> genres -> movies``."""
    import warnings

    from langchain_classic.chains import LLMChain, SequentialChain, SimpleSequentialChain
    from langchain_core._api import LangChainDeprecationWarning
    from langchain_core.prompts import PromptTemplate

    from prompts import get

    genre_list = ", ".join(load_catalogue().genres())
    genres_prompt = get("movie_genres", lang=lang).partial(genre_list=genre_list)
    movies_prompt = get("recommend_movies", lang=lang)
    with warnings.catch_warnings():  # deprecated upstream, offered on purpose for course material
        warnings.simplefilter("ignore", LangChainDeprecationWarning)
        if simple:
            first = LLMChain(llm=llm, prompt=PromptTemplate.from_template(genres_prompt.format(answer="{input}")))
            second = LLMChain(llm=llm, prompt=PromptTemplate.from_template(movies_prompt.format(genres="{input}")))
            return SimpleSequentialChain(chains=[first, second], verbose=verbose)
        return SequentialChain(
            chains=[
                LLMChain(llm=llm, prompt=genres_prompt, output_key="genres"),
                LLMChain(llm=llm, prompt=movies_prompt, output_key="movies"),
            ],
            input_variables=["answer"],
            output_variables=["genres", "movies"],
            verbose=verbose,
        )

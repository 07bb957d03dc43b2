"""Movie night, the seed's flagship: favourite genres (step 1) -> grounded movie picks with reasons (step 2).

On the 135M embedded model an unguided chain loops ("The Matrix" x18), so each step is grounded: step 1 answers
with genres from the catalogue's fixed list (constrained decoding on local models), and explicit genre words in
the user's answer win over the model's guess; step 2 picks only among catalogue candidates for those genres, and
repeated picks are dropped and topped up from the candidates (labelled as such). Answers follow the input language.

>>> from llms import load_model
>>> fake = load_model('fake:{"genres": ["comedy"]}|{"recommendations": [{"title": "Home Alone", "reason": "fun"}]}')
>>> [r["title"] for r in movie_night(fake).invoke({"answer": "I like comedies"})["recommendations"]][:1]
['Home Alone']
"""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable, RunnableLambda
from pydantic import BaseModel, Field, create_model

from chains.catalogue import Catalogue, Movie, load_catalogue
from chains.language import detect_language
from chains.sequential import SequentialRecipe, Step, sequential

__all__ = ["MIN_PICKS", "movie_night", "movie_night_classic", "movie_night_lcel"]

MIN_PICKS = 3
_REASON_CHARS = 120


def _genre_schema(catalogue: Catalogue, max_genres: int) -> type[BaseModel]:
    genre = Literal[tuple(catalogue.genres())]  # type: ignore[valid-type]
    return create_model(
        "FavoriteGenres", genres=(list[genre], Field(min_length=1, max_length=max_genres))  # type: ignore[valid-type]
    )


def _picks_schema(titles: list[str], n: int) -> type[BaseModel]:
    title = Literal[tuple(titles)]  # type: ignore[valid-type]
    pick = create_model("Pick", title=(title, ...), reason=(str, Field(max_length=_REASON_CHARS)))
    return create_model("Picks", recommendations=(list[pick], Field(min_length=1, max_length=n)))  # type: ignore[valid-type]


def _lang(values: dict[str, Any], fixed: str | None) -> str:
    return fixed or detect_language(values["answer"])


def _step_genres(model: BaseChatModel, catalogue: Catalogue, lang: str | None, max_genres: int) -> Runnable:
    from llms.structured import constrained
    from prompts import get

    schema = _genre_schema(catalogue, max_genres)
    ask = constrained(model, schema)

    def run(values: dict[str, Any]) -> list[str]:
        answer, code = values["answer"], _lang(values, lang)
        named = catalogue.match_genres(answer)[:max_genres]
        listed = ", ".join(f"{g} ({catalogue.genre_label(g, 'ko')})" if code == "ko" else g for g in catalogue.genres())
        guessed = ask.invoke(get("movie_genres", lang=code).invoke({"answer": answer, "genre_list": listed}))
        # Words the user wrote are facts; the model decides only when the answer names no genre at all.
        return named or list(dict.fromkeys(guessed.genres))

    return RunnableLambda(run, name="genres")


def _step_picks(model: BaseChatModel, catalogue: Catalogue, lang: str | None, per_genre: int) -> Runnable:
    from llms.structured import constrained
    from prompts import get

    def run(values: dict[str, Any]) -> list[dict[str, Any]]:
        code = _lang(values, lang)
        pool: dict[str, list[Movie]] = catalogue.candidates(values["genres"], per_genre=per_genre)
        movies = [m for group in pool.values() for m in group]
        by_title = {(m.title if code == "en" else m.title_ko): m for m in movies}
        schema = _picks_schema(list(by_title), max(MIN_PICKS, len(pool)))
        prompt = get("movie_picks", lang=code).invoke({
            "genres": ", ".join(catalogue.genre_label(g, code) for g in pool),
            "candidates": "\n".join(f"- {m.label(code)}" for m in movies),
        })
        picks = constrained(model, schema).invoke(prompt).recommendations
        chosen: dict[str, dict[str, Any]] = {}
        for pick in picks:  # repetition control: the same title twice counts once
            movie = by_title[pick.title]
            chosen.setdefault(movie.title, _row(movie, code, pick.reason.strip(), values["genres"], "model"))
        for movie in movies:  # top up to MIN_PICKS from the grounded candidates, saying so
            if len(chosen) >= MIN_PICKS:
                break
            chosen.setdefault(movie.title, _row(movie, code, "", values["genres"], "catalogue"))
        return list(chosen.values())

    return RunnableLambda(run, name="recommendations")


def _row(movie: Movie, lang: str, reason: str, genres: list[str], source: str) -> dict[str, Any]:
    return {
        "title": movie.title if lang == "en" else movie.title_ko,
        "title_en": movie.title,
        "year": movie.year,
        "genres": [g for g in movie.genres if g in genres] or list(movie.genres[:1]),
        "reason": reason,
        "source": source,
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
        Step(
            "recommendations",
            _step_picks(model, catalogue, lang, per_genre),
            "recommendations",
            input_keys=["answer", "genres"],
        ),
        inputs=["answer"],
        verbose=verbose,
        name="movie_night",
    )


def movie_night_lcel(model: BaseChatModel, lang: str = "en") -> Runnable[dict[str, Any], dict[str, Any]]:
    """The same two steps in plain LCEL with ``RunnablePassthrough.assign`` (no key checks, for comparison)."""
    from langchain_core.runnables import RunnablePassthrough

    catalogue = load_catalogue()
    return RunnablePassthrough.assign(genres=_step_genres(model, catalogue, lang, 3)) | RunnablePassthrough.assign(
        recommendations=_step_picks(model, catalogue, lang, 5)
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

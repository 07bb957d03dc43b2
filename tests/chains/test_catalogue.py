"""The movie catalogue: shipped data invariants, genre matching, title finding, candidate picking."""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chains.catalogue import (
    Catalogue,
    CatalogueError,
    Movie,
    UnknownGenreError,
    _read_json,
    genre_label,
    load_catalogue,
    match_genres,
)
from llms.errors import RecipesError

CATALOGUE = load_catalogue()
DATA = Path(__file__).resolve().parents[2] / "chains" / "data"


def _has_hangul(text: str) -> bool:
    return re.search("[가-힣]", text) is not None


# --- the shipped data ---------------------------------------------------------------------------------


def test_catalogue_is_big_and_titles_are_unique() -> None:
    assert len(CATALOGUE) >= 150
    assert len({m.title.casefold() for m in CATALOGUE.movies}) == len(CATALOGUE)
    assert len({m.title_ko for m in CATALOGUE.movies}) == len(CATALOGUE)


def test_vocabulary_has_15_to_18_genres_with_both_names() -> None:
    raw = json.loads((DATA / "genres.json").read_text(encoding="utf-8"))
    assert 15 <= len(raw) <= 18
    assert CATALOGUE.genres() == [g["id"] for g in raw]
    for genre in raw:
        assert genre["en"].casefold() == genre["id"]
        assert _has_hangul(genre["ko"]) or genre["ko"] == "SF"


def test_every_genre_has_at_least_8_movies_and_every_movie_genre_is_known() -> None:
    counts = Counter(g for m in CATALOGUE.movies for g in m.genres)
    assert set(counts) == set(CATALOGUE.genres())
    assert min(counts.values()) >= 8, counts


def test_every_movie_has_a_korean_title_and_a_plausible_year() -> None:
    for movie in CATALOGUE.movies:
        assert movie.title_ko.strip() and movie.title.strip()
        assert 1888 <= movie.year <= 2030
    assert sum(_has_hangul(m.title_ko) for m in CATALOGUE.movies) >= 0.95 * len(CATALOGUE)


def test_known_korean_films_are_present() -> None:
    parasite = CATALOGUE.find_title("Parasite")
    assert parasite == Movie("Parasite", "기생충", 2019, parasite.genres if parasite else ())
    assert CATALOGUE.find_title("부산행") is not None and CATALOGUE.find_title("올드보이") is not None


def test_the_file_parses_to_exactly_the_catalogue() -> None:
    raw = json.loads((DATA / "movies.json").read_text(encoding="utf-8"))
    assert [m["title"] for m in raw] == [m.title for m in CATALOGUE.movies]
    assert all(set(m) == {"title", "title_ko", "year", "genres"} for m in raw)


def test_catalogue_is_cached_and_immutable() -> None:
    assert load_catalogue() is CATALOGUE
    assert isinstance(CATALOGUE.movies, tuple)
    with pytest.raises(dataclasses.FrozenInstanceError):
        CATALOGUE.movies[0].year = 1  # type: ignore[misc]


# --- genre matching -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I love sci-fi and horror movies", ["science fiction", "horror"]),
        ("Romantic comedies, please", ["romance", "comedy"]),
        ("animated films for my kids", ["animation", "family"]),
        ("Documentaries and Westerns", ["documentary", "western"]),
        ("SF, sf, Sci Fi, science-fiction, scifi", ["science fiction"]),
        ("a war movie or a thriller", ["war", "thriller"]),
        ("Star Wars", []),  # "Wars" is not the genre word "war"
        ("a transaction about fantasyland", []),  # genre words inside other words do not count
        (
            "crime, mystery, musical, adventure, drama, action",
            ["crime", "mystery", "musical", "adventure", "drama", "action"],
        ),
        ("", []),
    ],
)
def test_match_genres_english(text: str, expected: list[str]) -> None:
    assert match_genres(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("저는 액션과 코미디를 좋아해요", ["action", "comedy"]),
        ("공포영화랑 SF영화 추천해 주세요", ["horror", "science fiction"]),
        ("멜로 영화나 만화영화", ["romance", "animation"]),
        ("호러, 공상과학, 다큐멘터리", ["horror", "science fiction", "documentary"]),
        ("가족이랑 볼 판타지", ["family", "fantasy"]),
        ("서부영화와 전쟁 영화와 뮤지컬", ["western", "war", "musical"]),
        ("추리물이나 스릴러, 범죄 영화", ["mystery", "thriller", "crime"]),
        ("멜로디가 좋은 애니멀 영화", []),  # look-alikes of 멜로 and 애니 are not genres
        ("I like 로맨스 and war films", ["romance", "war"]),
    ],
)
def test_match_genres_korean(text: str, expected: list[str]) -> None:
    assert match_genres(text) == expected


@given(st.text(max_size=60))
def test_match_genres_returns_distinct_known_ids(text: str) -> None:
    found = CATALOGUE.match_genres(text)
    assert len(found) == len(set(found)) and set(found) <= set(CATALOGUE.genres())


def test_every_genre_name_is_matched_in_a_sentence() -> None:
    for genre_id in CATALOGUE.genres():
        genre = CATALOGUE.genre(genre_id)
        assert match_genres(f"I like {genre.name_en} movies") == [genre_id]
        assert match_genres(f"저는 {genre.name_ko} 영화를 좋아해요") == [genre_id]


def test_genre_lookup_and_labels() -> None:
    assert CATALOGUE.genre("Sci-Fi").id == "science fiction"
    assert CATALOGUE.genre("공포").id == "horror"
    assert genre_label("sci-fi", "ko") == "SF"
    assert genre_label("코미디") == "Comedy"
    assert genre_label("western", "ko") == "서부극"
    with pytest.raises(UnknownGenreError, match=r"unknown genre 'cooking' .*known: action, adventure"):
        CATALOGUE.genre("cooking")
    with pytest.raises(CatalogueError, match="unknown language 'fr'"):
        genre_label("action", "fr")  # type: ignore[arg-type]


# --- title finding ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("어제 기생충을 봤어요", ["Parasite"]),
        ("I loved Parasite!", ["Parasite"]),
        ("the dark knight", ["The Dark Knight"]),  # the whole text is a title: any case
        ("다크나이트가 최고", ["The Dark Knight"]),  # Korean without the space
        ("I liked Alien but Aliens is better", ["Alien", "Aliens"]),
        ("터미네이터 2 최고", ["Terminator 2: Judgment Day"]),  # the longer title wins
        ("Amelie and Pride and Prejudice", ["Amélie", "Pride & Prejudice"]),
        ("A Taxi Driver, then Taxi Driver", ["A Taxi Driver", "Taxi Driver"]),
        ("Get Out was scary", ["Get Out"]),
        ("I want to get out and see speed boats", []),  # short titles must be capitalised
        ("유전자 검사와 대부분의 영화", []),  # a Korean title inside a longer word is not a mention
        ("대부를 봤다", ["The Godfather"]),
        ("Can you recommend a good movie for tonight?", []),
    ],
)
def test_find_titles(text: str, expected: list[str]) -> None:
    assert [m.title for m in CATALOGUE.find_titles(text)] == expected


def test_every_title_is_found_alone_and_in_a_sentence() -> None:
    for movie in CATALOGUE.movies:
        for text in (
            movie.title,
            f"I watched {movie.title} yesterday.",
            movie.title_ko,
            f"어제 {movie.title_ko}를 봤어요",
        ):
            assert CATALOGUE.find_titles(text) == [movie], text


def test_find_title_returns_the_first_mention_or_none() -> None:
    found = CATALOGUE.find_title("Inception, then The Matrix")
    assert found is not None and found.title == "Inception"
    assert CATALOGUE.find_title("nothing here") is None


# --- by_genre and candidates ---------------------------------------------------------------------------


def test_by_genre_puts_main_genre_first() -> None:
    horror = CATALOGUE.by_genre("horror")
    ranks = [m.genres.index("horror") for m in horror]
    assert ranks == sorted(ranks) and ranks[0] == 0
    assert CATALOGUE.by_genre("공포", limit=3) == horror[:3]
    with pytest.raises(CatalogueError, match="limit"):
        CATALOGUE.by_genre("horror", limit=-1)


def test_candidates_are_deterministic_distinct_and_sized() -> None:
    first = CATALOGUE.candidates(["horror", "sci-fi", "horror"], per_genre=4)
    assert first == CATALOGUE.candidates(["horror", "sci-fi"], per_genre=4)
    assert list(first) == ["horror", "science fiction"]
    assert first["horror"] == CATALOGUE.by_genre("horror", limit=4)
    picked = [m.title for movies in first.values() for m in movies]
    assert len(picked) == 8 == len(set(picked))
    assert all("science fiction" in m.genres for m in first["science fiction"])


def test_candidates_with_a_seed_shuffle_reproducibly() -> None:
    one = CATALOGUE.candidates(["comedy"], per_genre=5, seed=1)
    assert one == CATALOGUE.candidates(["comedy"], per_genre=5, seed=1)
    assert one != CATALOGUE.candidates(["comedy"], per_genre=5, seed=2)
    assert all("comedy" in m.genres for m in one["comedy"])


def test_candidates_leave_out_excluded_titles_in_either_language() -> None:
    plain = CATALOGUE.candidates("science fiction", per_genre=3)["science fiction"]
    assert plain[0].title == "The Matrix"
    without = CATALOGUE.candidates(["sci-fi"], per_genre=3, exclude=["the matrix", "인셉션"])["science fiction"]
    assert {m.title for m in without}.isdisjoint({"The Matrix", "Inception"}) and len(without) == 3
    with pytest.raises(CatalogueError, match="per_genre"):
        CATALOGUE.candidates(["action"], per_genre=0)


# --- validation ---------------------------------------------------------------------------------------

GENRES = [
    {"id": "action", "en": "Action", "ko": "액션", "synonyms": ["action"]},
    {"id": "drama", "en": "Drama", "ko": "드라마", "synonyms": []},
]


def _movie(**changes: Any) -> dict[str, Any]:
    return {"title": "Heat", "title_ko": "히트", "year": 1995, "genres": ["action"], **changes}


@pytest.mark.parametrize(
    ("movies", "genres", "message"),
    [
        ([_movie(genres=["cooking"])], GENRES, "'Heat'.*unknown genre 'cooking'"),
        ([_movie(), _movie(title_ko="열기")], GENRES, "duplicate title 'Heat'"),
        ([_movie(), _movie(title="The Heat", title_ko="열기")], GENRES, "duplicate title 'The Heat'"),
        ([_movie(year=1500)], GENRES, "implausible year 1500"),
        ([_movie(year="1995")], GENRES, "year must be an integer"),
        ([_movie(genres=[])], GENRES, "genres must be non-empty"),
        ([{"title": "Heat", "year": 1995, "genres": ["action"]}], GENRES, "missing field 'title_ko'"),
        ([_movie(rating=5)], GENRES, "unknown field 'rating'"),
        ([_movie(title_ko=" ")], GENRES, "expected a non-empty string"),
        ([], GENRES, "movies: expected a non-empty JSON list"),
        ([_movie()], [*GENRES, {"id": "war", "en": "War", "ko": "전쟁", "synonyms": ["action"]}], "used by both"),
    ],
)
def test_invalid_data_is_rejected_with_a_clear_error(movies: Any, genres: Any, message: str) -> None:
    with pytest.raises(CatalogueError, match=message) as caught:
        Catalogue.from_data(movies, genres)
    assert isinstance(caught.value, RecipesError) and "\n" not in str(caught.value)


def test_valid_small_catalogue_works() -> None:
    small = Catalogue.from_data([_movie(), _movie(title="Hamlet", title_ko="햄릿", genres=["drama"])], GENRES)
    assert small.genres() == ["action", "drama"]
    assert [m.title for m in small.by_genre("drama")] == ["Hamlet"]
    assert small.match_genres("드라마 or action?") == ["drama", "action"]


def test_invalid_json_file_names_the_file_and_line(tmp_path: Path) -> None:
    broken = tmp_path / "movies.json"
    broken.write_text('[\n  {"title": "Heat",,}\n]', encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"movies.json: invalid JSON at line 2"):
        _read_json(broken)

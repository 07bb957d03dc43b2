"""A small movie catalogue (English and Korean titles) and a genre vocabulary that ground movie suggestions.

>>> from chains.catalogue import load_catalogue, match_genres
>>> match_genres("I love sci-fi and horror movies")
['science fiction', 'horror']
>>> load_catalogue().find_title("어제 기생충을 봤어요").title
'Parasite'
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, Literal

from chains.matching import Text, TitleForm, genre_key, genre_text, synonym_pattern, title_key
from core.errors import RecipesError

__all__ = [
    "Catalogue",
    "CatalogueError",
    "Genre",
    "Lang",
    "Movie",
    "UnknownGenreError",
    "genre_label",
    "load_catalogue",
    "match_genres",
]

Lang = Literal["en", "ko"]

_FIRST_FILM_YEAR = 1888  # the oldest surviving film; an earlier year is a typo


class CatalogueError(RecipesError, ValueError):
    """The catalogue data is invalid, or a catalogue call got a bad argument."""


class UnknownGenreError(CatalogueError):
    """A genre name that is neither a genre id nor one of its synonyms."""


@dataclass(frozen=True)
class Genre:
    """One genre of the fixed vocabulary: canonical English id, display names, matching synonyms."""

    id: str
    name_en: str
    name_ko: str
    synonyms: tuple[str, ...]
    exclude: tuple[str, ...] = ()  # look-alike words that contain a synonym but mean something else

    def label(self, lang: Lang = "en") -> str:
        """The display name: ``Genre(...).label("ko")`` -> ``'공포'``."""
        return self.name_en if _check_lang(lang) == "en" else self.name_ko


@dataclass(frozen=True)
class Movie:
    """One catalogue entry; ``genres`` lists the most defining genre first."""

    title: str
    title_ko: str
    year: int
    genres: tuple[str, ...]

    def label(self, lang: Lang = "en") -> str:
        """``'Parasite (2019)'`` or, with ``lang="ko"``, ``'기생충 (2019)'``."""
        return f"{self.title if _check_lang(lang) == 'en' else self.title_ko} ({self.year})"


def _check_lang(lang: str) -> str:
    if lang not in ("en", "ko"):
        raise CatalogueError(f"unknown language {lang!r} (use 'en' or 'ko')")
    return lang


class Catalogue:
    """Movies plus the genre vocabulary, validated on construction; immutable."""

    def __init__(self, movies: Sequence[Movie], genres: Sequence[Genre]) -> None:
        self._genres = tuple(genres)
        self._movies = tuple(movies)
        self._by_key: dict[str, Genre] = {}
        for genre in self._genres:
            for name in (genre.id, genre.name_en, genre.name_ko, *genre.synonyms):
                other = self._by_key.setdefault(genre_key(name), genre)
                if other is not genre:
                    raise CatalogueError(f"genre name {name!r} is used by both {other.id!r} and {genre.id!r}")
        known = [g.id for g in self._genres]
        seen: dict[str, int] = {}
        for index, movie in enumerate(self._movies):
            where = f"movie {movie.title!r} ({movie.year})"
            if not _FIRST_FILM_YEAR <= movie.year <= date.today().year + 2:
                raise CatalogueError(f"{where}: implausible year {movie.year}")
            if not movie.genres or len(set(movie.genres)) != len(movie.genres):
                raise CatalogueError(f"{where}: genres must be non-empty and distinct, got {list(movie.genres)}")
            for genre_id in movie.genres:
                if genre_id not in known:
                    raise CatalogueError(f"{where}: unknown genre {genre_id!r} (known: {', '.join(known)})")
            for title in (movie.title, movie.title_ko):
                if seen.setdefault(title_key(title), index) != index:
                    raise CatalogueError(f"{where}: duplicate title {title!r}")
        self._genre_patterns = {
            g.id: [synonym_pattern(s) for s in {g.id, g.name_en, g.name_ko, *g.synonyms}] for g in self._genres
        }
        self._title_forms = [(TitleForm.of(m.title), TitleForm.of(m.title_ko)) for m in self._movies]
        self._exact = {f.text: m for m, forms in zip(self._movies, self._title_forms, strict=True) for f in forms}

    @classmethod
    def from_data(cls, movies: Any, genres: Any) -> Catalogue:
        """Build from parsed JSON (lists of dicts as in ``chains/data``), checking every field."""
        return cls(
            [_parse_movie(i, item) for i, item in enumerate(_as_list(movies, "movies"))],
            [_parse_genre(i, item) for i, item in enumerate(_as_list(genres, "genres"))],
        )

    @property
    def movies(self) -> tuple[Movie, ...]:
        """Every movie, in the curated file order (best known first)."""
        return self._movies

    def genres(self) -> list[str]:
        """The canonical English genre ids, in vocabulary order."""
        return [g.id for g in self._genres]

    def genre(self, name: str) -> Genre:
        """Look a genre up by id, English or Korean name, or synonym (case-insensitive)."""
        found = self._by_key.get(genre_key(name))
        if found is None:
            raise UnknownGenreError(f"unknown genre {name!r} (known: {', '.join(self.genres())})")
        return found

    def genre_label(self, genre: str, lang: Lang = "en") -> str:
        """Display name of a genre: ``genre_label("sci-fi", "ko")`` -> ``'SF'``."""
        return self.genre(genre).label(lang)

    def by_genre(self, genre: str, limit: int | None = None) -> list[Movie]:
        """Movies of a genre, those where it is the main genre first, then in file order."""
        if limit is not None and limit < 0:
            raise CatalogueError(f"limit must be >= 0, got {limit}")
        genre_id = self.genre(genre).id
        movies = sorted((m for m in self._movies if genre_id in m.genres), key=lambda m: m.genres.index(genre_id))
        return movies if limit is None else movies[:limit]

    def candidates(
        self, genres: Iterable[str], per_genre: int = 5, seed: int | None = None, exclude: Iterable[str] = ()
    ) -> dict[str, list[Movie]]:
        """Up to ``per_genre`` movies per genre for a prompt; no movie twice, ``exclude`` titles left out.

        Without a seed the choice is fixed (best known first); with one, a reproducible shuffle.
        """
        if per_genre < 1:
            raise CatalogueError(f"per_genre must be >= 1, got {per_genre}")
        names = [genres] if isinstance(genres, str) else list(genres)
        rng = random.Random(seed) if seed is not None else None
        skipped = {title_key(t) for t in exclude}
        picked: dict[str, list[Movie]] = {}
        used: set[str] = set()
        for name in names:
            genre_id = self.genre(name).id
            if genre_id in picked:
                continue
            pool = [
                m
                for m in self.by_genre(genre_id)
                if m.title not in used and not {title_key(m.title), title_key(m.title_ko)} & skipped
            ]
            if rng is not None:
                rng.shuffle(pool)
            picked[genre_id] = pool[:per_genre]
            used.update(m.title for m in picked[genre_id])
        return picked

    def match_genres(self, text: str) -> list[str]:
        """Genre ids mentioned in English or Korean ``text``, in order of first mention, without repeats."""
        folded = genre_text(text)
        for genre in self._genres:
            for word in genre.exclude:  # blank look-alikes out, keeping every position
                word = genre_text(word)
                folded = folded.replace(word, " " * len(word))
        first: dict[str, tuple[int, int]] = {}
        for rank, genre in enumerate(self._genres):
            starts = [m.start() for p in self._genre_patterns[genre.id] if (m := p.search(folded))]
            if starts:
                first[genre.id] = (min(starts), rank)
        return sorted(first, key=first.__getitem__)

    def find_titles(self, text: str) -> list[Movie]:
        """Catalogue movies named in ``text`` (English or Korean titles), in order of mention.

        Overlapping mentions resolve to the longest title ("Aliens" is not "Alien"). Titles of one or
        two words must be capitalised unless the whole text is the title, so "get out" is no movie.
        """
        prepared = Text(text)
        whole = TitleForm.of(text) if prepared.norm else None
        if whole is not None and whole.text in self._exact:
            return [self._exact[whole.text]]
        hits = sorted(
            (start, -end, index)
            for index, forms in enumerate(self._title_forms)
            for form in forms
            for start, end in prepared.mentions(form)
        )
        found: list[Movie] = []
        end = -1
        for start, neg_end, index in hits:
            if start >= end and self._movies[index] not in found:
                found.append(self._movies[index])
                end = -neg_end
        return found

    def find_title(self, text: str) -> Movie | None:
        """The first catalogue movie named in ``text``, or None."""
        found = self.find_titles(text)
        return found[0] if found else None

    def __len__(self) -> int:
        return len(self._movies)


def _as_list(raw: Any, what: str) -> list[Any]:
    if not isinstance(raw, list) or not raw:
        raise CatalogueError(f"{what}: expected a non-empty JSON list")
    return raw


def _fields(item: Any, where: str, required: set[str], optional: frozenset[str] = frozenset()) -> Mapping[str, Any]:
    if not isinstance(item, Mapping):
        raise CatalogueError(f"{where}: expected an object, got {type(item).__name__}")
    if missing := sorted(required - item.keys()):
        raise CatalogueError(f"{where}: missing field {missing[0]!r}")
    if unknown := sorted(item.keys() - required - optional):
        raise CatalogueError(f"{where}: unknown field {unknown[0]!r}")
    return item


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise CatalogueError(f"{where}: expected a non-empty string, got {value!r}")
    return value.strip()


def _texts(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise CatalogueError(f"{where}: expected a list of strings, got {value!r}")
    return tuple(_text(v, where) for v in value)


def _parse_movie(index: int, item: Any) -> Movie:
    fields = _fields(item, f"movies entry {index}", {"title", "title_ko", "year", "genres"})
    where = f"movies entry {index} ({fields['title']!r})"
    year = fields["year"]
    if not isinstance(year, int) or isinstance(year, bool):
        raise CatalogueError(f"{where}: year must be an integer, got {year!r}")
    return Movie(_text(fields["title"], where), _text(fields["title_ko"], where), year, _texts(fields["genres"], where))


def _parse_genre(index: int, item: Any) -> Genre:
    fields = _fields(item, f"genres entry {index}", {"id", "en", "ko", "synonyms"}, frozenset({"exclude"}))
    where = f"genres entry {index} ({fields['id']!r})"
    return Genre(
        _text(fields["id"], where),
        _text(fields["en"], where),
        _text(fields["ko"], where),
        _texts(fields["synonyms"], where),
        _texts(fields.get("exclude", []), where),
    )


def _read_json(file: Traversable) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CatalogueError(f"{file.name}: invalid JSON at line {exc.lineno}: {exc.msg}") from None


@cache
def load_catalogue() -> Catalogue:
    """The catalogue shipped in ``chains/data`` (read and validated once per process)."""
    data = resources.files("chains") / "data"
    return Catalogue.from_data(_read_json(data / "movies.json"), _read_json(data / "genres.json"))


def match_genres(text: str) -> list[str]:
    """Genre ids named in ``text``: ``match_genres("액션과 코미디")`` -> ``['action', 'comedy']``."""
    return load_catalogue().match_genres(text)


def genre_label(genre: str, lang: Lang = "en") -> str:
    """Display name of a genre id or synonym in English or Korean."""
    return load_catalogue().genre_label(genre, lang)

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
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, Literal

from llms.errors import RecipesError

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
# A Korean title is usually followed by a particle ("기생충을", "곡성이랑"); any other syllable means the
# title is only part of a longer word ("유전자" is not "유전").
_PARTICLE_STARTS = "은는이가을를도와과랑의에로으만처보하나요야까부"
_EN_LEFT = r"(?<![A-Za-z0-9])"
_EN_RIGHT = r"(?![A-Za-z0-9])"
_DASHES = re.compile("[\u2010-\u2015\u2212]")
_APOSTROPHES = re.compile("['`\u2018\u2019\u02bc]")


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


def _fold_accents(text: str) -> str:
    # Drops Latin accents ("Amélie" -> "Amelie"); Hangul decomposes to jamo and NFC puts it back together.
    decomposed = unicodedata.normalize("NFD", unicodedata.normalize("NFKC", text))
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def _title_text(text: str) -> str:
    """Text as titles are matched: accents folded, '&' read as 'and', punctuation turned into spaces."""
    text = _APOSTROPHES.sub("", _fold_accents(text).replace("&", " and "))
    return " ".join(re.sub(r"[\W_]+", " ", text).split())


def _title_key(title: str) -> str:
    """A title's identity for duplicate checks and exclusion: case, spaces and a leading 'the' ignored."""
    key = _title_text(title).casefold()
    return (key[4:] if key.startswith("the ") else key).replace(" ", "")


def _genre_text(text: str) -> str:
    return _DASHES.sub("-", _fold_accents(text).casefold())


def _genre_key(name: str) -> str:
    return " ".join(re.split(r"[\s-]+", _genre_text(name).strip()))


def _has_hangul(text: str) -> bool:
    return any("가" <= c <= "힣" for c in text)


def _lower(text: str) -> str:
    # Character by character, so every index into the original text stays valid.
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def _is_word_char(text: str, index: int, *, hangul: bool) -> bool:
    if not 0 <= index < len(text):
        return False
    c = text[index]
    return (c.isascii() and c.isalnum()) or (hangul and "가" <= c <= "힣")


@dataclass(frozen=True)
class _TitleForm:
    """A title as searched for: lower-case English words, or Korean with its spaces removed."""

    text: str
    korean: bool
    capitalised: bool  # one- or two-word English titles are everyday words ("Speed", "Get Out")

    @classmethod
    def of(cls, title: str) -> _TitleForm:
        words = _title_text(title).split()
        if _has_hangul(title):
            return cls("".join(words), korean=True, capitalised=False)
        if len(words) > 1 and words[0].lower() == "the":
            words = words[1:]
        return cls(_lower(" ".join(words)), korean=False, capitalised=len(words) <= 2 and words[0][0].isalpha())


class _Text:
    """A text prepared once for title search (plain string search: ~500 regexes take a second to compile)."""

    def __init__(self, text: str) -> None:
        self.norm = _title_text(text)
        self.lower = _lower(self.norm)
        self.positions = [i for i, c in enumerate(self.norm) if c != " "]
        self.compact = "".join(self.norm[i] for i in self.positions)

    def mentions(self, form: _TitleForm) -> Iterator[tuple[int, int]]:
        """(start, end) of each mention of ``form`` in ``norm``."""
        haystack = self.compact if form.korean else self.lower
        found = haystack.find(form.text)
        while found >= 0:
            span = self._check(form, found)
            if span is not None:
                yield span
            found = haystack.find(form.text, found + 1)

    def _check(self, form: _TitleForm, found: int) -> tuple[int, int] | None:
        if form.korean:
            start, end = self.positions[found], self.positions[found + len(form.text) - 1] + 1
            after = self.norm[end] if end < len(self.norm) else " "
            # A particle may follow a Korean title ("기생충을"), another syllable may not ("유전자").
            if _is_word_char(self.norm, start - 1, hangul=True) or (
                _has_hangul(after) and after not in _PARTICLE_STARTS
            ):
                return None
            return start, end
        start, end = found, found + len(form.text)
        if _is_word_char(self.lower, start - 1, hangul=False) or _is_word_char(self.lower, end, hangul=False):
            return None
        if form.capitalised and not self.norm[start].isupper():
            return None
        return (start - 4 if self.lower[max(0, start - 4) : start] == "the " else start), end


def _synonym_pattern(synonym: str) -> re.Pattern[str]:
    folded = _genre_text(synonym)
    if _has_hangul(folded):
        # Korean particles attach to the word ("액션과", "공포영화"), so Korean synonyms match anywhere.
        return re.compile(r"\s*".join(map(re.escape, folded.split())))
    parts = re.split(r"[\s-]+", folded.strip())
    return re.compile(_EN_LEFT + r"[\s-]*".join(map(re.escape, parts)) + _EN_RIGHT)


class Catalogue:
    """Movies plus the genre vocabulary, validated on construction; immutable."""

    def __init__(self, movies: Sequence[Movie], genres: Sequence[Genre]) -> None:
        self._genres = tuple(genres)
        self._movies = tuple(movies)
        self._by_key: dict[str, Genre] = {}
        for genre in self._genres:
            for name in (genre.id, genre.name_en, genre.name_ko, *genre.synonyms):
                other = self._by_key.setdefault(_genre_key(name), genre)
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
                if seen.setdefault(_title_key(title), index) != index:
                    raise CatalogueError(f"{where}: duplicate title {title!r}")
        self._genre_patterns = {
            g.id: [_synonym_pattern(s) for s in {g.id, g.name_en, g.name_ko, *g.synonyms}] for g in self._genres
        }
        self._title_forms = [(_TitleForm.of(m.title), _TitleForm.of(m.title_ko)) for m in self._movies]
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
        found = self._by_key.get(_genre_key(name))
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
        skipped = {_title_key(t) for t in exclude}
        picked: dict[str, list[Movie]] = {}
        used: set[str] = set()
        for name in names:
            genre_id = self.genre(name).id
            if genre_id in picked:
                continue
            pool = [
                m
                for m in self.by_genre(genre_id)
                if m.title not in used and not {_title_key(m.title), _title_key(m.title_ko)} & skipped
            ]
            if rng is not None:
                rng.shuffle(pool)
            picked[genre_id] = pool[:per_genre]
            used.update(m.title for m in picked[genre_id])
        return picked

    def match_genres(self, text: str) -> list[str]:
        """Genre ids mentioned in English or Korean ``text``, in order of first mention, without repeats."""
        folded = _genre_text(text)
        for genre in self._genres:
            for word in genre.exclude:  # blank look-alikes out, keeping every position
                word = _genre_text(word)
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
        prepared = _Text(text)
        whole = _TitleForm.of(text) if prepared.norm else None
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

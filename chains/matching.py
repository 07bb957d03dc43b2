"""Text matching for the catalogue: movie titles and genre words found in free English or Korean text.

>>> form = TitleForm.of("Parasite")
>>> list(Text("I watched Parasite yesterday").mentions(form))
[(10, 18)]
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from core.text import is_hangul

__all__ = [
    "Text",
    "TitleForm",
    "fold_accents",
    "genre_key",
    "genre_text",
    "has_hangul",
    "is_word_char",
    "lower",
    "synonym_pattern",
    "title_key",
    "title_text",
]

# A Korean title is usually followed by a particle ("기생충을", "곡성이랑"); any other syllable means the
# title is only part of a longer word ("유전자" is not "유전").
_PARTICLE_STARTS = "은는이가을를도와과랑의에로으만처보하나요야까부"
_EN_LEFT = r"(?<![A-Za-z0-9])"
_EN_RIGHT = r"(?![A-Za-z0-9])"
_DASHES = re.compile("[\u2010-\u2015\u2212]")
_APOSTROPHES = re.compile("['`\u2018\u2019\u02bc]")


def fold_accents(text: str) -> str:
    # Drops Latin accents ("Amélie" -> "Amelie"); Hangul decomposes to jamo and NFC puts it back together.
    decomposed = unicodedata.normalize("NFD", unicodedata.normalize("NFKC", text))
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def title_text(text: str) -> str:
    """Text as titles are matched: accents folded, '&' read as 'and', punctuation turned into spaces."""
    text = _APOSTROPHES.sub("", fold_accents(text).replace("&", " and "))
    return " ".join(re.sub(r"[\W_]+", " ", text).split())


def title_key(title: str) -> str:
    """A title's identity for duplicate checks and exclusion: case, spaces and a leading 'the' ignored."""
    key = title_text(title).casefold()
    return (key[4:] if key.startswith("the ") else key).replace(" ", "")


def genre_text(text: str) -> str:
    return _DASHES.sub("-", fold_accents(text).casefold())


def genre_key(name: str) -> str:
    return " ".join(re.split(r"[\s-]+", genre_text(name).strip()))


def has_hangul(text: str) -> bool:
    return any(map(is_hangul, text))


def lower(text: str) -> str:
    # Character by character, so every index into the original text stays valid.
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def is_word_char(text: str, index: int, *, hangul: bool) -> bool:
    if not 0 <= index < len(text):
        return False
    c = text[index]
    return (c.isascii() and c.isalnum()) or (hangul and "가" <= c <= "힣")


@dataclass(frozen=True)
class TitleForm:
    """A title as searched for: lower-case English words, or Korean with its spaces removed."""

    text: str
    korean: bool
    capitalised: bool  # one- or two-word English titles are everyday words ("Speed", "Get Out")

    @classmethod
    def of(cls, title: str) -> TitleForm:
        words = title_text(title).split()
        if has_hangul(title):
            return cls("".join(words), korean=True, capitalised=False)
        if len(words) > 1 and words[0].lower() == "the":
            words = words[1:]
        return cls(lower(" ".join(words)), korean=False, capitalised=len(words) <= 2 and words[0][0].isalpha())


class Text:
    """A text prepared once for title search (plain string search: ~500 regexes take a second to compile)."""

    def __init__(self, text: str) -> None:
        self.norm = title_text(text)
        self.lower = lower(self.norm)
        self.positions = [i for i, c in enumerate(self.norm) if c != " "]
        self.compact = "".join(self.norm[i] for i in self.positions)

    def mentions(self, form: TitleForm) -> Iterator[tuple[int, int]]:
        """(start, end) of each mention of ``form`` in ``norm``."""
        haystack = self.compact if form.korean else self.lower
        found = haystack.find(form.text)
        while found >= 0:
            span = self._check(form, found)
            if span is not None:
                yield span
            found = haystack.find(form.text, found + 1)

    def _check(self, form: TitleForm, found: int) -> tuple[int, int] | None:
        if form.korean:
            start, end = self.positions[found], self.positions[found + len(form.text) - 1] + 1
            after = self.norm[end] if end < len(self.norm) else " "
            # A particle may follow a Korean title ("기생충을"), another syllable may not ("유전자").
            if is_word_char(self.norm, start - 1, hangul=True) or (has_hangul(after) and after not in _PARTICLE_STARTS):
                return None
            return start, end
        start, end = found, found + len(form.text)
        if is_word_char(self.lower, start - 1, hangul=False) or is_word_char(self.lower, end, hangul=False):
            return None
        if form.capitalised and not self.norm[start].isupper():
            return None
        return (start - 4 if self.lower[max(0, start - 4) : start] == "the " else start), end


def synonym_pattern(synonym: str) -> re.Pattern[str]:
    folded = genre_text(synonym)
    if has_hangul(folded):
        # Korean particles attach to the word ("액션과", "공포영화"), so Korean synonyms match anywhere.
        return re.compile(r"\s*".join(map(re.escape, folded.split())))
    parts = re.split(r"[\s-]+", folded.strip())
    return re.compile(_EN_LEFT + r"[\s-]*".join(map(re.escape, parts)) + _EN_RIGHT)

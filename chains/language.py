"""Answers follow the language of the input: a tiny, dependency-free detector for the two we ship (en, ko)."""

from __future__ import annotations

from core.text import is_hangul

__all__ = ["detect_language"]


def detect_language(text: str) -> str:
    """``"ko"`` if Hangul makes up a good share of the letters, else ``"en"``.

    >>> detect_language("당신이 좋아하는 영화 장르는 무엇인가요?"), detect_language("I like sci-fi")
    ('ko', 'en')
    """
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return "en"
    hangul = sum(is_hangul(ch) for ch in letters)
    return "ko" if hangul / len(letters) >= 0.3 else "en"

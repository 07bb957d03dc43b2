"""Movie night: tell it what genres you like (English or Korean); it names the genres and recommends movies.

Run:  recipes run movie-night "I love sci-fi and horror"   (or: recipes run movie-night "저는 코미디가 좋아요")
      recipes run movie-night --classic "I like comedies"       (langchain-classic SimpleSequentialChain, verbose)
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Literal

from apps.common import (
    add_model_arguments,
    llm_from_args,
    model_from_args,
    print_json,
    read_line,
    wants_stream,
)

__all__ = ["QUESTION", "add_arguments", "genres_line", "pick_lines", "run"]

QUESTION = {"en": "What movie genres do you like?", "ko": "당신이 좋아하는 영화 장르는 무엇인가요?"}
HEADINGS = {
    "en": ("Genres", "Recommendations", "from the catalogue"),
    "ko": ("장르", "추천 영화", "카탈로그에서"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("answer", nargs="*", help="your answer to 'What movie genres do you like?' (asked if omitted)")
    parser.add_argument("--lang", choices=["en", "ko"], help="answer language (default: the language you write in)")
    style = parser.add_mutually_exclusive_group()
    style.add_argument("--classic", action="store_true", help="langchain-classic SimpleSequentialChain (text)")
    style.add_argument("--sequential-chain", action="store_true", help="langchain-classic SequentialChain (keys)")
    add_model_arguments(parser)


def _ask(lang: str | None) -> str:
    question = QUESTION[lang or "en"] if lang else f"{QUESTION['en']} / {QUESTION['ko']}"
    if sys.stdin.isatty():
        return input(f"{question}\n> ")
    print(question, file=sys.stderr)
    return read_line()


def genres_line(genres: list[str], lang: str) -> str:
    """"Genres: SF, horror" in the answer's language (the CLI prints it; the playground shows it)."""
    from chains.catalogue import genre_label

    code: Literal["en", "ko"] = "ko" if lang == "ko" else "en"
    return f"{HEADINGS[code][0]}: {', '.join(genre_label(g, code) for g in genres)}"


def pick_lines(picks: list[dict[str, Any]], lang: str) -> list[str]:
    """The heading and one numbered line per pick; a pick whose reason is still to come shows none yet."""
    heads = HEADINGS["ko" if lang == "ko" else "en"]
    lines = [f"{heads[1]}:"]
    for i, pick in enumerate(picks, 1):
        why = f" — {pick['reason'] or f'({heads[2]})'}" if "reason" in pick else ""
        lines.append(f"  {i}. {pick['title']} ({pick['year']}){why}")
    return lines


def _print_genres(genres: list[str], lang: str) -> None:
    print(genres_line(genres, lang), flush=True)


def _print_picks(picks: list[dict[str, Any]], lang: str) -> None:
    for line in pick_lines(picks, lang):
        print(line, flush=True)


def _run_classic(args: argparse.Namespace, answer: str, lang: str) -> int:
    from chains.movies import movie_night_classic

    # Small models loop without it ("The Matrix" x18, measured); a mild penalty keeps the text readable.
    budget = 80 if args.max_new_tokens is None else args.max_new_tokens  # 0 is refused, not taken for "unset"
    llm = llm_from_args(args, {"repetition_penalty": 1.3}, max_new_tokens=budget)
    chain = movie_night_classic(llm, lang=lang, verbose=not args.json, simple=not args.sequential_chain)
    if args.sequential_chain:
        result = chain.invoke({"answer": answer})
        out = {"answer": answer, "genres": result["genres"], "movies": result["movies"]}
    else:
        out = {"answer": answer, "movies": chain.invoke({"input": answer})["output"]}
    if args.json:
        print_json(out)
    else:
        print(out["movies"])
    return 0


def run(args: argparse.Namespace) -> int:
    from chains.language import detect_language

    answer = " ".join(args.answer).strip() or _ask(args.lang).strip()
    if not answer:
        raise ValueError("no answer given: say which movie genres you like")
    lang = args.lang or detect_language(answer)
    if args.classic or args.sequential_chain:
        return _run_classic(args, answer, lang)

    from chains.movies import movie_night

    recipe = movie_night(model_from_args(args, {"repetition_penalty": 1.2}), lang=lang, verbose=args.verbose)
    if wants_stream(args):
        result: dict[str, Any] = {}
        for chunk in recipe.stream({"answer": answer}):
            if "genres" in chunk and "genres" not in result:
                _print_genres(chunk["genres"], lang)
            result.update(chunk)
        _print_picks(result["recommendations"], lang)
        return 0
    result = recipe.invoke({"answer": answer})
    if args.json:
        print_json(
            {"answer": answer, "lang": lang, "genres": result["genres"], "recommendations": result["recommendations"]}
        )
    else:
        _print_genres(result["genres"], lang)
        _print_picks(result["recommendations"], lang)
    return 0


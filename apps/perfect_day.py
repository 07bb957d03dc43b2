"""Perfect day: "Describe a perfect day in {city}?" on any model, as LCEL or the classic LLMChain.

Run:  recipes run perfect-day Paris          (or: recipes run perfect-day 서울 --classic)
"""

from __future__ import annotations

import argparse
import sys
import time

from apps.common import (
    add_model_arguments,
    llm_from_args,
    model_from_args,
    print_json,
    print_stream,
    wants_stream,
)

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("city", nargs="+", help="the city (any language; Korean gets a Korean answer)")
    parser.add_argument("--classic", action="store_true", help="use langchain-classic's LLMChain instead of LCEL")
    add_model_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from chains.itinerary import language_of, perfect_day, perfect_day_classic

    city = " ".join(args.city).strip()
    if not city:
        raise ValueError("no city given: say which city the day is in")
    lang = language_of(city)
    started = time.monotonic()
    if args.classic:
        chain = perfect_day_classic(llm_from_args(args), lang=lang)
        answer = chain.invoke({"city": city}, config={"callbacks": []} if not args.verbose else None)["text"]
        if not args.json:
            print(answer)
    else:
        lcel = perfect_day(model_from_args(args), lang=lang)
        if wants_stream(args):
            answer = print_stream(lcel.stream({"city": city}))
        else:
            answer = lcel.invoke({"city": city})
            if not args.json:
                print(answer)
    if args.verbose:
        print(f"[perfect-day] model={args.model} lang={lang} {time.monotonic() - started:.1f}s", file=sys.stderr)
    if args.json:
        print_json({"city": city, "lang": lang, "model": args.model, "classic": args.classic, "answer": answer})
    if not answer.strip():
        print("error: the model returned an empty answer", file=sys.stderr)
        return 1
    return 0


"""Chat: an interactive REPL with a system prompt and history kept as role messages. /reset clears, /exit quits.

Run:  recipes run chat                      (or: recipes run chat --system "Answer in one sentence.")
Lines can be piped in too:  printf 'Hi\n/exit\n' | recipes run chat --model fake:echo
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator

from apps.common import add_model_arguments, model_from_args, print_json, read_line, wants_stream

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--system", help="the system prompt (default: a helpful assistant)")
    parser.add_argument("--lang", choices=["en", "ko"], default="en", help="language of the default system prompt")
    add_model_arguments(parser)


def _lines(interactive: bool) -> Iterator[str]:
    while True:
        try:
            line = input("you> ") if interactive else read_line()
        except EOFError:
            return
        if not interactive and line == "":
            return
        yield line.strip()


def run(args: argparse.Namespace) -> int:
    from chains.conversation import History, chat

    interactive = sys.stdin.isatty()
    bot = chat(model_from_args(args), system=args.system, lang=args.lang)
    history = History()
    transcript = []
    if interactive:
        print("chat: /reset clears the history, /exit quits", file=sys.stderr)
    for line in _lines(interactive):
        if not line:
            continue
        if line == "/exit":
            break
        if line == "/reset":
            history = History()
            print("(history cleared)", file=sys.stderr)
            continue
        inputs = {"history": list(history.messages), "input": line}
        if wants_stream(args):
            sys.stdout.write("bot> " if interactive else "")
            parts = []
            for chunk in bot.stream(inputs):
                parts.append(chunk.text)
                sys.stdout.write(chunk.text)
                sys.stdout.flush()
            sys.stdout.write("\n")
            reply = "".join(parts)
        else:
            reply = bot.invoke(inputs).text
            if not args.json:
                print(f"bot> {reply}" if interactive else reply)
        history = history.turn(line, reply)
        transcript.append({"user": line, "assistant": reply})
    if args.json:
        print_json({"turns": transcript})
    return 0


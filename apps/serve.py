"""Serve: a web playground (Gradio) for movie night, perfect day, translate, json-qa and chat, with a steps panel.

Run:  recipes serve                      (http://127.0.0.1:7860; only this machine can reach it)
      recipes serve --port 7861 --model fake:Hello
      recipes serve --host 0.0.0.0       (reachable from the network: the model spec is then fixed to --model)
      recipes serve --share              (a public gradio.live link, only when asked)
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from apps.common import add_model_arguments

__all__ = ["LOOPBACK", "add_arguments", "run"]

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0..65535 (0: any free one), got {port}")
    return port


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("server")
    group.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    group.add_argument("--port", type=_port, default=7860, help="port to listen on (default 7860)")
    group.add_argument("--share", action="store_true", help="also open a public gradio.live link (off by default)")
    group.add_argument(
        "--allow-spec", action="append", default=[], metavar="SPEC", help="another model spec to offer (repeatable)"
    )
    add_model_arguments(parser)


def _loader(args: argparse.Namespace) -> Any:
    """spec -> model, each loaded once with the command line's options (the embedded model takes seconds)."""
    from functools import lru_cache

    from apps.common import model_from_args

    @lru_cache(maxsize=4)
    def load(spec: str) -> Any:
        return model_from_args(argparse.Namespace(**{**vars(args), "model": spec}))

    return load


def run(args: argparse.Namespace) -> int:
    # Before gradio is imported: it reads this at import time, and the playground must not phone home.
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    from apps.serve_ui import build_app

    public = args.share or args.host not in LOOPBACK
    models = list(dict.fromkeys([args.model, *args.allow_spec, *([] if public else ["local"])]))
    demo = build_app(
        _loader(args),
        models=models,
        custom_models=not public,  # anyone who reaches the page must not make this machine load any model
        max_new_tokens=args.max_new_tokens or 128,
    )
    demo.queue(default_concurrency_limit=1)  # one generation at a time: a local model already uses the CPU
    print(f"playground: http://{args.host}:{args.port} (Ctrl-C stops it)", file=sys.stderr, flush=True)
    # System fonts: the default theme would have every browser fetch fonts from Google.
    fonts, mono = ["ui-sans-serif", "system-ui", "sans-serif"], ["ui-monospace", "monospace"]
    theme = gr.themes.Default(font=fonts, font_mono=mono)
    demo.launch(
        server_name=args.host,
        server_port=args.port,
        share=bool(args.share),
        inbrowser=False,
        ssr_mode=False,
        theme=theme,
    )
    return 0

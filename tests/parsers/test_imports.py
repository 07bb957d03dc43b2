"""`prompts` and `parsers` stay light: importing them must not pull in torch or transformers."""

from __future__ import annotations

import subprocess
import sys

import parsers
import prompts


def test_import_does_not_load_torch_or_transformers() -> None:
    code = "import sys, prompts, parsers; print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_public_api_is_exported() -> None:
    from parsers import OutputParseError, SchemaValidationError, TruncatedOutputError, parse_json  # noqa: F401
    from prompts import get  # noqa: F401

    for module in (parsers, prompts):
        assert all(hasattr(module, name) for name in module.__all__)

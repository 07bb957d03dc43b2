"""Fixtures for app tests: run `recipes ARGS` in this process and capture what it prints."""

from __future__ import annotations

from collections.abc import Callable

import pytest

RunCli = Callable[..., tuple[int, str, str]]


def call_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`recipes ARGS` in this process -> (exit code, stdout, stderr)."""
    from apps.cli import main

    try:
        code = main(list(args))
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> RunCli:
    """`run_cli("run", "translate", "cheese")` -> (exit code, stdout, stderr), in-process (fast)."""
    return lambda *args: call_cli(capsys, *args)

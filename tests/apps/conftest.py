"""Fixtures for app tests: run `recipes ARGS` in this process and capture what it prints."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

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


def interrupt_after_lines(proc: subprocess.Popen[str], out: Path, *, lines: int = 2, wait: float, then: float) -> str:
    """Ctrl-C `proc` once `out` holds `lines` whole lines (within `wait` s); its stderr (exit within `then` s)."""
    try:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists() and out.read_text(encoding="utf-8").count("\n") >= lines:
                break
            time.sleep(0.05)
        assert proc.poll() is None, f"the run ended before it could be interrupted: {proc.communicate()[1]}"
        proc.send_signal(signal.SIGINT)
        return proc.communicate(timeout=then)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()

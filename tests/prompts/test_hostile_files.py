"""Whatever is in a prompt directory, loading it ends quickly in a typed, one-line error naming the file.

Each case here used to end otherwise: a FIFO hung `recipes prompts list --dir`, deep nesting raised a bare
RecursionError, a symlink loop a RuntimeError, a variable named `self` a TypeError at format time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from prompts import PromptError, PromptFileError, PromptPathError, TemplateVariableError, load_dir

ROOT = Path(__file__).resolve().parents[2]


def prompt_text(variables: str = '["who"]', body: str = "Hello {who}!") -> str:
    return (
        'name = "greeting"\nlanguage = "en"\ndescription = "Greets."\nkind = "text"\n'
        f"variables = {variables}\nbody = {body!r}\n".replace("'", '"')
    )


def load_within(root: Path, seconds: float = 10.0, **kwargs: Any) -> Any:
    """`load_dir(root)` in a thread: the result, or the exception; fails (instead of hanging) after `seconds`."""
    outcome: dict[str, Any] = {}

    def go() -> None:
        try:
            outcome["value"] = load_dir(root, **kwargs)
        except BaseException as err:  # the test inspects it
            outcome["value"] = err

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    thread.join(seconds)
    assert "value" in outcome, f"load_dir({root}) did not return within {seconds} s"
    return outcome["value"]


def assert_typed(error: Any, kind: type[PromptError], *words: str) -> None:
    assert isinstance(error, kind), repr(error)
    message = str(error)
    assert "\n" not in message
    for word in words:
        assert word in message, message


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_without_being_opened(tmp_path: Path) -> None:
    (tmp_path / "ok.toml").write_text(prompt_text(), encoding="utf-8")
    os.mkfifo(tmp_path / "x.toml")
    assert_typed(load_within(tmp_path), PromptFileError, "x.toml", "FIFO")
    assert_typed(load_within(tmp_path, files=["x.toml"]), PromptFileError, "x.toml", "FIFO")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_prompts_list_with_a_fifo_in_the_directory_exits_with_one_line(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "x.toml")
    done = subprocess.run(
        [sys.executable, "-m", "apps.cli", "prompts", "list", "--dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == ["error: x.toml: is a FIFO (named pipe), not a prompt file"]


def test_a_directory_named_like_a_prompt_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "sub.toml").mkdir()
    assert_typed(load_within(tmp_path, files=["sub.toml"]), PromptFileError, "sub.toml", "directory")


def test_the_size_cap_names_its_variable_and_can_be_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "big.toml").write_text(prompt_text() + "# " + "x" * 300_000 + "\n", encoding="utf-8")
    assert_typed(load_within(tmp_path), PromptFileError, "big.toml", "262144-byte cap", "RECIPES_MAX_PROMPT_BYTES")
    monkeypatch.setenv("RECIPES_MAX_PROMPT_BYTES", str(1 << 20))
    assert load_within(tmp_path).names() == ["greeting"]
    monkeypatch.setenv("RECIPES_MAX_PROMPT_BYTES", "lots")
    assert_typed(load_within(tmp_path), PromptFileError, "RECIPES_MAX_PROMPT_BYTES")


@pytest.mark.parametrize(
    ("content", "kind", "words"),
    [
        ("a = " + "[" * 50_000 + "]" * 50_000, PromptFileError, ("nested too deeply",)),
        ("a = " + "{b = " * 20_000 + "1" + "}" * 20_000, PromptFileError, ("nested too deeply",)),
        (b'name = "greeting"\x00\n', PromptFileError, ("NUL byte",)),
        (b'name = "caf\xe9"\n', PromptFileError, ("not UTF-8",)),
        (prompt_text('["self"]', "Hi {self}"), TemplateVariableError, ("'self' is reserved",)),
        (prompt_text('["stop"]', "Hi {stop}"), TemplateVariableError, ("'stop' is reserved",)),
        (prompt_text('["who", "extra"]'), TemplateVariableError, ("'extra' is declared but not used",)),
    ],
    ids=["deep-arrays", "deep-tables", "nul", "latin-1", "self", "stop", "unused"],
)
def test_bad_content_is_a_typed_error_naming_the_file(
    tmp_path: Path, content: str | bytes, kind: type[PromptError], words: tuple[str, ...]
) -> None:
    path = tmp_path / "sub" / "bad.toml"
    path.parent.mkdir()
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    assert_typed(load_within(tmp_path), kind, "sub/bad.toml", *words)


def test_symlink_loops_are_typed_errors(tmp_path: Path) -> None:
    os.symlink(tmp_path / "self.toml", tmp_path / "self.toml")
    assert_typed(load_within(tmp_path), PromptFileError, "self.toml", "symlink loop")
    (tmp_path / "self.toml").unlink()
    os.symlink(tmp_path / "b.toml", tmp_path / "a.toml")
    os.symlink(tmp_path / "a.toml", tmp_path / "b.toml")
    assert_typed(load_within(tmp_path, files=["b.toml"]), PromptFileError, "b.toml", "symlink loop")


def test_nul_bytes_in_paths_are_refused(tmp_path: Path) -> None:
    (tmp_path / "ok.toml").write_text(prompt_text(), encoding="utf-8")
    assert_typed(load_within(tmp_path, files=["ok\x00.toml"]), PromptPathError, "NUL byte")
    assert_typed(load_within(tmp_path / "a\x00b"), PromptPathError, "NUL byte")

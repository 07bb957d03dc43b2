"""User prompt directories: loaded like the built-ins, but nothing outside the directory is ever read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from prompts import PromptFileError, PromptPathError, TemplateSecurityError, load_dir, resolve_inside

GREETING = """\
name = "greeting"
language = "LANG"
description = "Greets someone."
kind = "text"
variables = ["who"]
body = "BODY"
"""


def write(path: Path, lang: str = "en", body: str = "Hello {who}!") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(GREETING.replace("LANG", lang).replace("BODY", body), encoding="utf-8")
    return path


@pytest.fixture
def user_dir(tmp_path: Path) -> Path:
    root = tmp_path / "mine"
    write(root / "greeting.en.toml")
    write(root / "ko" / "greeting.toml", lang="ko", body="{who}님, 안녕하세요!")
    return root


def test_loads_every_toml_under_the_directory(user_dir: Path) -> None:
    lib = load_dir(user_dir)
    assert lib.names() == ["greeting"]
    assert lib.languages("greeting") == ["en", "ko"]
    assert lib.get("greeting", "ko").format(who="민수") == "민수님, 안녕하세요!"
    assert lib.info("greeting").source == "greeting.en.toml"


def test_loads_only_the_listed_files(user_dir: Path) -> None:
    lib = load_dir(user_dir, files=["ko/greeting.toml"])
    assert lib.languages("greeting") == ["ko"]


@pytest.mark.parametrize("bad", ["../outside.toml", "ko/../../outside.toml", "/etc/passwd"])
def test_dotdot_and_absolute_paths_are_refused(user_dir: Path, bad: str) -> None:
    write(user_dir.parent / "outside.toml")
    with pytest.raises(PromptPathError, match="is refused"):
        load_dir(user_dir, files=[bad])


def test_symlinked_file_leading_out_is_refused(user_dir: Path, tmp_path: Path) -> None:
    secret = write(tmp_path / "secret" / "s.toml")
    os.symlink(secret, user_dir / "link.toml")
    with pytest.raises(PromptPathError, match=r"'link\.toml' is refused: it leads outside"):
        load_dir(user_dir)
    with pytest.raises(PromptPathError, match="leads outside"):
        load_dir(user_dir, files=["link.toml"])


def test_symlinked_directory_leading_out_is_refused(user_dir: Path, tmp_path: Path) -> None:
    write(tmp_path / "elsewhere" / "x.toml")
    os.symlink(tmp_path / "elsewhere", user_dir / "sub")
    with pytest.raises(PromptPathError, match="'sub' is refused"):
        load_dir(user_dir)
    with pytest.raises(PromptPathError, match="leads outside"):
        load_dir(user_dir, files=["sub/x.toml"])


def test_symlink_inside_the_directory_is_fine(user_dir: Path) -> None:
    os.symlink(user_dir / "greeting.en.toml", user_dir / "alias.toml")
    with pytest.raises(PromptFileError, match="defined twice"):  # same prompt twice, but it was read
        load_dir(user_dir)
    assert resolve_inside(user_dir, "alias.toml") == (user_dir / "greeting.en.toml").resolve()


def test_unsafe_user_template_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "evil.toml", body="{who.__class__.__init__.__globals__}")
    with pytest.raises(TemplateSecurityError, match="__globals__"):
        load_dir(tmp_path)


def test_bad_files_get_typed_errors(tmp_path: Path) -> None:
    (tmp_path / "broken.toml").write_text("name = \n")
    with pytest.raises(PromptFileError, match=r"broken\.toml: not valid TOML"):
        load_dir(tmp_path)
    with pytest.raises(PromptFileError, match="does not exist"):
        load_dir(tmp_path / "missing")
    with pytest.raises(PromptFileError, match="cannot read"):
        load_dir(tmp_path, files=["nope.toml"])
    (tmp_path / "broken.toml").write_bytes(b"x" * (300 * 1024))
    with pytest.raises(PromptFileError, match="larger than"):
        load_dir(tmp_path)

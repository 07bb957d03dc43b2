"""`recipes prompts list|show`: the prompt browser, through the one CLI."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

import prompts
from apps import cli_prompts
from apps.cli import main


def test_add_parser_registers_a_prompts_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="recipes")
    cli_prompts.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["prompts", "show", "perfect_day", "--lang", "ko"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "language: ko" in out
    assert "{city}에서 보내는 완벽한 하루" in out


def test_list_shows_every_prompt_with_languages(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prompts", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == prompts.names()
    assert any(line.split()[:3] == ["translate_few_shot", "en,ko", "few-shot"] for line in lines)


def test_list_in_korean_shows_korean_descriptions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prompts", "list", "--lang", "ko"]) == 0
    assert "영화" in capsys.readouterr().out


def test_show_renders_values_literally(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prompts", "show", "chat_assistant", "--var", "question=오늘 {secret}?"]) == 0
    out = capsys.readouterr().out
    assert "variables: question" in out
    assert out.rstrip().endswith("human: 오늘 {secret}?")


def test_show_errors_are_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    # A prompt that does not exist or a missing variable is a failed run (1), as in every app; 2 is bad usage.
    assert main(["prompts", "show", "nope"]) == 1
    assert main(["prompts", "show", "json_answer", "--var", "qestion=x"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing printed before the error
    errors = captured.err.splitlines()
    assert errors[0].startswith("error: no prompt named 'nope'")
    assert errors[1] == "error: prompt 'json_answer' is missing variable(s): question"


def test_list_from_a_user_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "g.toml").write_text(
        'name = "g"\nlanguage = "en"\ndescription = "Mine."\nkind = "text"\nvariables = []\nbody = "Hi"\n'
    )
    assert main(["prompts", "list", "--dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.split() == ["g", "en", "text", "Mine."]

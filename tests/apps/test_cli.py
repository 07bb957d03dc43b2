"""The `recipes` CLI and the perfect-day app, end to end in subprocesses (the way users run them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.apps.conftest import RunCli

ROOT = Path(__file__).resolve().parents[2]


def recipes(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run `recipes ARGS` in a subprocess, exactly as a user would."""
    env = {**os.environ, "RECIPES_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "apps.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_help_imports_neither_torch_nor_transformers() -> None:
    code = (
        "import sys\nfrom apps.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('HEAVY', sorted(m for m in ('torch', 'transformers', 'langchain_core') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "recipes" in out.stdout and "run" in out.stdout
    assert "HEAVY []" in out.stdout


def test_run_help_lists_apps_and_app_help_lists_options(run_cli: RunCli) -> None:
    code, out, _ = run_cli("run", "--help")
    assert code == 0 and "perfect-day" in out
    code, app_help, _ = run_cli("run", "perfect-day", "--help")
    assert code == 0
    for option in ("--model", "--stream", "--verbose", "--json", "--classic"):
        assert option in app_help


def test_perfect_day_on_fake_model_lcel_and_classic(run_cli: RunCli) -> None:
    code, out, err = run_cli("run", "perfect-day", "Paris", "--model", "fake:A sunny walk by the Seine.", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["answer"] == "A sunny walk by the Seine." and data["city"] == "Paris" and data["lang"] == "en"
    code, out, err = run_cli("run", "perfect-day", "서울", "--classic", "--model", "fake:한강 산책", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["answer"] == "한강 산책" and data["lang"] == "ko" and data["classic"] is True


def test_perfect_day_streams_on_tiny_gpt_neo_like_the_chain(tiny_gpt_neo_dir: Path, run_cli: RunCli) -> None:
    from chains.itinerary import perfect_day
    from llms import load_model

    expected = perfect_day(load_model(f"hf:{tiny_gpt_neo_dir}", max_new_tokens=8)).invoke({"city": "Paris"})
    code, out, err = run_cli(
        "run",
        "perfect-day",
        "Paris",
        "--model",
        f"hf:{tiny_gpt_neo_dir}",
        "--max-new-tokens",
        "8",
        "--stream",
    )
    assert expected.strip(), "the seeded tiny model (greedy) should answer this prompt with some text"
    assert code == 0, err
    assert out == expected + "\n"


def test_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    out = recipes("run", "perfect-day", "Paris", "--model", f"hf:{tmp_path / 'missing'}")
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "missing" in lines[0]
    bad_spec = recipes("run", "perfect-day", "Paris", "--model", "gpt-4")
    assert bad_spec.returncode == 1 and "unknown model spec" in bad_spec.stderr and "Traceback" not in bad_spec.stderr
    debug = recipes("run", "perfect-day", "Paris", "--model", "gpt-4", "--debug")
    assert "Traceback" in debug.stderr


def test_models_lists_specs(run_cli: RunCli) -> None:
    code, out, _ = run_cli("models")
    assert code == 0
    for spec in ("local", "hf:", "openai:", "fake:"):
        assert spec in out


@pytest.mark.slow
def test_perfect_day_on_the_embedded_model(embedded_model_dir: Path) -> None:
    """README's main command: a real answer from SmolLM2 — neither empty nor the prompt."""
    out = recipes("run", "perfect-day", "Paris", "--json", "--max-new-tokens", "40")
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)["answer"]
    assert len(answer.split()) >= 5
    assert "perfect day in Paris in one short paragraph" not in answer


def test_dead_openai_endpoint_is_one_line_naming_the_url() -> None:
    """A dead base URL exits non-zero quickly with one error line naming the URL, no traceback."""
    import time

    started = time.monotonic()
    out = recipes(
        "run", "json-qa", "--model", "openai:any", "--base-url", "http://127.0.0.1:9/v1", "What is 2+2?", timeout=60
    )
    elapsed = time.monotonic() - started
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "http://127.0.0.1:9/v1" in errors[0]
    print(f"dead endpoint answered in {elapsed:.1f}s")  # a figure for the notes, not an assertion


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_is_honoured_before_or_after_the_command(where: str) -> None:
    args = ["run", "perfect-day", "Paris", "--model", "gpt-4"]
    out = recipes("--debug", *args) if where == "before" else recipes(*args, "--debug")
    assert out.returncode == 1 and "Traceback" in out.stderr and "unknown model spec" in out.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "perfect-day", "Paris", "--no-such-option"],
        ["run", "no-such-app"],
        ["logs", "prune", "--older-than", "x"],
    ],
)
def test_bad_usage_exits_2_before_anything_runs(argv: list[str], run_cli: RunCli) -> None:
    code, out, err = run_cli(*argv)
    assert code == 2 and "usage: recipes" in err and out == ""


def test_every_registered_app_parses_its_own_help() -> None:
    from apps.cli import APPS, build_parser

    parser = build_parser()
    assert len(APPS) >= 7
    for name in APPS:
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args(["run", name, "--help"])
        assert exit_info.value.code == 0


def test_an_empty_answer_is_reported_as_a_failed_run(run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    import apps.perfect_day
    from llms import FakeChatModel

    monkeypatch.setattr(apps.perfect_day, "model_from_args", lambda args: FakeChatModel(responses=["   "]))
    code, _, err = run_cli("run", "perfect-day", "Paris", "--no-stream", "--no-log")
    assert code == 1 and "empty answer" in err

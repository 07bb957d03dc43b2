"""Every app, end to end, on a REAL OpenAI-compatible server: `transformers serve` with a tiny GPT-Neo.

Movie night once failed on every `openai:` model (it passed an option only local models take); these runs
catch that class of bug for each app and mode. The served model is a real GPT-Neo whose weights make it answer
every prompt with one known JSON text (`tests/apps/scripted_model.py`), so each app can be held to exit code 0
and the shape of its output: a random model's output fails every JSON app, since the server ignores
`response_format`. The apps run in this process (fast); chat also as a subprocess with stdin piped in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.apps.conftest import call_cli
from tests.apps.scripted_model import ANSWER, COMEDY_PICKS, TASK, save_scripted_model
from tests.llms.openai_server import ServedModel, serve_model, transformers_cli

pytestmark = pytest.mark.slow  # starts a server

ROOT = Path(__file__).resolve().parents[2]
_OPENAI_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_BASE", "OPENAI_ORG_ID", "OPENAI_PROXY")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedModel]:
    """`transformers serve` on 127.0.0.1 with the scripted model, for this module; always stopped."""
    if transformers_cli() is None:
        pytest.skip("the `transformers` CLI is not installed (pip install 'transformers[serving]')")
    model_dir = save_scripted_model(tmp_path_factory.mktemp("scripted") / "model")
    with serve_model(model_dir, tmp_path_factory.mktemp("serve-logs")) as served:
        yield served


@pytest.fixture
def run(
    server: ServedModel, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[object]:
    """`run("perfect-day", "Paris", ...)` -> (exit code, stdout, stderr) of `recipes run` against the server."""
    for name in _OPENAI_ENV:  # the developer's own settings must not leak in
        monkeypatch.delenv(name, raising=False)
    spec = ["--model", f"openai:{server.model_id}", "--base-url", server.base_url]
    yield lambda app, *args: call_cli(capsys, "run", app, *args, *spec)


def _json(out: str) -> dict:  # type: ignore[type-arg]
    data = json.loads(out)
    assert isinstance(data, dict)
    return data


def test_the_scripted_model_answers_every_prompt_alike_through_the_server(server: ServedModel) -> None:
    from llms import load_model

    model = load_model(f"openai:{server.model_id}", base_url=server.base_url, max_new_tokens=200)
    for prompt in ("Hello", "당신이 좋아하는 영화 장르는 무엇인가요?"):
        assert model.invoke(prompt).content == ANSWER


# -- perfect day ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("style", [[], ["--classic"]], ids=["lcel", "classic"])
def test_perfect_day(run, server: ServedModel, style: list[str]) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run("perfect-day", "Paris", *style, "--json")
    assert code == 0, err
    data = _json(out)
    assert data["answer"] == ANSWER and data["city"] == "Paris" and data["classic"] is bool(style)
    code, out, err = run("perfect-day", "서울", *style, "--no-stream")
    assert (code, out) == (0, ANSWER + "\n"), err


def test_perfect_day_streams_and_takes_sampling_options(run) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run("perfect-day", "Paris", "--stream", "--temperature", "0.7", "--seed", "3")
    assert (code, out) == (0, ANSWER + "\n"), err


# -- movie night ----------------------------------------------------------------------------------------------
def test_movie_night_grounded_recipe(run) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run("movie-night", "I like comedies", "--json")
    assert code == 0, err
    data = _json(out)
    assert data["genres"] == ["comedy"] and data["lang"] == "en"
    picks = data["recommendations"]
    assert [p["title"] for p in picks] == COMEDY_PICKS
    assert all(p["pick_source"] == "model" and p["reason"] for p in picks)


def test_movie_night_streams_as_text(run) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run("movie-night", "I like comedies", "--stream")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "Genres: Comedy" and lines[1] == "Recommendations:"
    assert lines[2].startswith("  1. Home Alone (1990) — ") and len(lines) == 5


@pytest.mark.parametrize("style", ["--classic", "--sequential-chain"])
def test_movie_night_classic_chains(run, style: str) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run("movie-night", style, "I like comedies", "--json")
    assert code == 0, err
    data = _json(out)
    assert data["answer"] == "I like comedies" and data["movies"] == ANSWER
    # SequentialChain passes step 1's text on under its key; SimpleSequentialChain keeps only the last output.
    assert data.get("genres") == {"--sequential-chain": ANSWER, "--classic": None}[style]
    code, out, err = run("movie-night", style, "I like comedies")
    assert code == 0 and out.rstrip().endswith(ANSWER), err  # the verbose chain trace, then the answer


# -- translate ------------------------------------------------------------------------------------------------
def test_translate_all_modes_and_one(run) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run("translate", "cheese", "--json")
    assert code == 0, err
    data = _json(out)
    answers = [data[mode] for mode in ("zero", "one", "few")]
    assert data["word"] == "cheese" and len(set(answers)) == 1
    assert answers[0] and ANSWER.startswith(answers[0])  # cut at the app's 16-token default
    code, out, err = run("translate", "sea otter", "--mode", "few", "--max-new-tokens", "200", "--json")
    assert code == 0 and _json(out) == {"word": "sea otter", "few": ANSWER}, err
    code, out, err = run("translate", "cheese")
    assert code == 0 and "few-shot" in out, err


# -- json-qa --------------------------------------------------------------------------------------------------
def test_json_qa_one_question(run) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run("json-qa", "What is 2+2?")
    assert code == 0 and _json(out) == {"answer": "Four"}, err
    code, out, err = run("json-qa", "2 더하기 2는?", "--json")
    assert code == 0 and _json(out) == {"question": "2 더하기 2는?", "answer": "Four"}, err


def test_json_qa_input_file_and_resume(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    questions = tmp_path / "q.txt"
    questions.write_text("What is 2+2?\n서울은 어느 나라의 수도인가요?\n", encoding="utf-8")
    answers = tmp_path / "a.jsonl"
    code, _, err = run("json-qa", "--input", str(questions), "--output", str(answers))
    assert code == 0, err
    assert "2 inputs: 2 ok, 0 failed" in err
    rows = sorted((json.loads(line) for line in answers.read_text(encoding="utf-8").splitlines()),
                  key=lambda r: r["index"])
    assert [r["index"] for r in rows] == [0, 1] and all(r["output"] == {"answer": "Four"} for r in rows)
    code, _, err = run("json-qa", "--input", str(questions), "--output", str(answers), "--resume")
    assert code == 0 and "2 already done" in err, err
    assert len(answers.read_text(encoding="utf-8").splitlines()) == 2


# -- self-instruct and judge ----------------------------------------------------------------------------------
def test_self_instruct_one_task(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "tasks.json"
    code, stdout, err = run("self-instruct", "--n", "1", "--out", str(out), "--json")
    assert code == 0, err
    assert json.loads(out.read_text(encoding="utf-8")) == [TASK]
    summary = _json(stdout)
    assert summary["new"] == 1 and summary["written"] is True and not summary["interrupted"]


def test_judge_two_specs(run, server: ServedModel, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    spec = f"openai:{server.model_id}"
    results = tmp_path / "r.jsonl"
    code, out, err = run("judge", "--a", spec, "--b", spec, "--limit", "2", "--max-new-tokens", "8",
                         "--out", str(results), "--json")
    assert code == 0, err
    data = _json(out)
    # Both orders say "A": A first, then B first -> a tie each time (the judge prefers the first position).
    assert (data["wins"], data["ties"], data["losses"]) == (0, 2, 0)
    assert [r["a_first"]["winner"] for r in data["results"]] == ["A", "A"]
    assert len(results.read_text(encoding="utf-8").splitlines()) == 2


# -- chat -----------------------------------------------------------------------------------------------------
def test_chat_with_stdin_piped_in(server: ServedModel) -> None:
    env = {k: v for k, v in os.environ.items() if k not in _OPENAI_ENV}
    done = subprocess.run(
        [sys.executable, "-m", "apps.cli", "run", "chat", "--model", f"openai:{server.model_id}",
         "--base-url", server.base_url, "--system", "Be brief."],
        input="Hello\n\n안녕하세요\n/exit\nnever sent\n", cwd=ROOT, env={**env, "HF_HUB_OFFLINE": "1"},
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [ANSWER, ANSWER]  # two turns; the blank line and "never sent" are not


def test_chat_json_transcript(run, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("Hi\n/reset\nagain\n"))
    code, out, err = run("chat", "--json")
    assert code == 0, err
    assert _json(out)["turns"] == [{"user": "Hi", "assistant": ANSWER}, {"user": "again", "assistant": ANSWER}]

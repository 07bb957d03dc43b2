"""The apps as users run them: fake-model logic in-process, and the issue's must-shows on the embedded model."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from chains import load_catalogue
from tests.apps.conftest import RunCli


def test_translate_prints_three_modes_as_a_table(run_cli: RunCli) -> None:
    code, out, err = run_cli("run", "translate", "cheese", "--model", "fake:fromage")
    assert code == 0, err
    for row in ("zero-shot", "one-shot", "few-shot"):
        assert row in out
    assert out.count("fromage") == 3
    code, out, _ = run_cli("run", "translate", "cheese", "--mode", "few", "--json", "--model", "fake:fromage")
    assert json.loads(out) == {"word": "cheese", "few": "fromage"}


def test_chat_repl_keeps_history_and_resets(run_cli: RunCli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("sys.stdin", io.StringIO("Hi\n안녕\n/reset\nagain\n/exit\nnever sent\n"))
    code, out, err = run_cli("run", "chat", "--model", "fake:echo", "--json", "--system", "Be brief.")
    assert code == 0, err
    turns = json.loads(out)["turns"]
    assert [t["user"] for t in turns] == ["Hi", "안녕", "again"]  # nothing after /exit
    assert [t["assistant"] for t in turns] == ["Hi", "안녕", "again"]  # the fake echoes the last message


def test_chat_history_reaches_the_model(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import argparse

    from apps import chat as chat_app
    from llms import FakeChatModel

    model = FakeChatModel()
    monkeypatch.setattr(chat_app, "model_from_args", lambda args: model)
    monkeypatch.setattr("sys.stdin", io.StringIO("one\ntwo\n/reset\nthree\n"))
    args = argparse.Namespace(system=None, lang="ko", stream=False, json=True)
    assert chat_app.run(args) == 0
    assert [m.type for m in model.calls[1]] == ["system", "human", "ai", "human"]
    assert [m.type for m in model.calls[2]] == ["system", "human"]  # after /reset
    assert "한국어" in model.calls[0][0].text


def test_json_qa_one_question_and_a_file(run_cli: RunCli, tmp_path: Path) -> None:
    code, out, err = run_cli("run", "json-qa", "What is 2+2?", "--model", 'fake:{"answer": "4"}')
    assert code == 0, err
    assert json.loads(out) == {"answer": "4"}
    questions = tmp_path / "questions.txt"
    questions.write_text("What is 2+2?\n서울은 어느 나라의 수도인가요?\n", encoding="utf-8")
    results = tmp_path / "answers.jsonl"
    code, _, err = run_cli(
        "run", "json-qa", "--input", str(questions), "--output", str(results), "--model", 'fake:{"answer": "ok"}'
    )
    assert code == 0, err
    rows = sorted(
        (json.loads(line) for line in results.read_text(encoding="utf-8").splitlines()), key=lambda r: r["index"]
    )
    assert [r["input"] for r in rows] == ["What is 2+2?", "서울은 어느 나라의 수도인가요?"]
    assert all(r["output"] == {"answer": "ok"} for r in rows)


def test_movie_night_json_on_fake(run_cli: RunCli) -> None:
    comedy = [m.title for m in load_catalogue().candidates(["comedy"])["comedy"]]
    picks = json.dumps({"comedy": comedy[:3]})
    code, out, err = run_cli(
        "run",
        "movie-night",
        "I like comedies",
        "--json",
        "--model",
        f"fake:{picks}|Funny from the first scene to the last.",
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["genres"] == ["comedy"]
    assert [r["title"] for r in data["recommendations"]] == comedy[:3]


def _assert_grounded(genres: list[str], recommendations: list[dict], lang: str) -> None:  # type: ignore[type-arg]
    catalogue = load_catalogue()
    by_title = {(m.title if lang == "en" else m.title_ko): m for m in catalogue.movies}
    matching = [r for r in recommendations if r["title"] in by_title and set(by_title[r["title"]].genres) & set(genres)]
    assert len({r["title"] for r in matching}) >= 3, recommendations


@pytest.mark.slow
@pytest.mark.parametrize(
    ("answer", "lang", "expected"),
    [
        ("I love sci-fi and horror movies", "en", {"science fiction", "horror"}),
        ("저는 로맨스와 코미디 영화를 좋아해요", "ko", {"romance", "comedy"}),
    ],
)
def test_movie_night_on_the_embedded_model(
    embedded_model_dir: Path, run_cli: RunCli, answer: str, lang: str, expected: set[str]
) -> None:
    code, out, err = run_cli("run", "movie-night", answer, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert set(data["genres"]) == expected and data["lang"] == lang
    _assert_grounded(data["genres"], data["recommendations"], lang)
    if lang == "ko":
        assert all(any("\uac00" <= ch <= "\ud7a3" for ch in r["reason"]) for r in data["recommendations"])
    # The terminal form prints the genres and the titles.
    code, out, _ = run_cli("run", "movie-night", answer, "--no-stream")
    assert code == 0
    heading = "장르" if lang == "ko" else "Genres"
    assert out.startswith(heading) and sum(r["title"] in out for r in data["recommendations"]) >= 3


@pytest.mark.slow
def test_classic_simple_sequential_chain_on_the_embedded_model(embedded_model_dir: Path, run_cli: RunCli) -> None:
    code, out, err = run_cli("run", "movie-night", "--classic", "I like comedies", "--max-new-tokens", "40")
    assert code == 0, err
    assert "Entering new SimpleSequentialChain chain" in out and "Finished chain" in out
    final = out.split("Finished chain.")[1]  # the app prints the chain's output after the trace
    assert len(final.split()) >= 3
    assert "What movie genres do you like?" not in final

"""The run history (`llms.history.RunLog`): what each step and model call sent and received, in SQLite."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from pydantic import BaseModel

from llms import load_model
from llms.history import RunLog
from llms.history_db import SCHEMA_VERSION, HistoryDB
from llms.sqlite_store import SchemaVersionError


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RECIPES_HOME", str(tmp_path))
    monkeypatch.delenv("RECIPES_NO_LOG", raising=False)
    return tmp_path


def _calls(log: RunLog) -> list[dict]:
    run = log.db.get_run(log.run_id)
    assert run is not None
    return [s for s in run["steps"] if s["kind"] != "chain"]


def test_a_chain_run_logs_its_steps_and_model_calls(home: Path) -> None:
    from chains.answers import json_qa

    log = RunLog(app="test")
    answer = json_qa(load_model('fake:{"answer": "4"}')).invoke({"question": "What is 2+2?"}, {"callbacks": [log]})
    assert answer.answer == "4"
    run = HistoryDB(home / "runs.db").get_run(log.run_id)
    assert run is not None and run["app"] == "test" and run["status"] == "ok" and run["ended"] >= run["started"]
    (call,) = [s for s in run["steps"] if s["kind"] == "chat"]
    assert call["messages"][-1] == {
        "role": "human",
        "content": "Return a JSON object with an `answer` key that answers the following question: What is 2+2?",
    }
    assert call["raw_output"] == '{"answer": "4"}'
    assert call["parsed_output"] == {"answer": "4"}  # what the parser made of it, on the call itself
    assert call["finish_reason"] == "stop" and call["model_name"] == "fake" and call["cache_hit"] is False
    assert call["total_tokens"] == call["input_tokens"] + call["output_tokens"] > 0
    assert call["latency_s"] >= 0 and call["error_type"] is None
    assert {"RunnableSequence", "json_answer", "StructuredParser"} <= {s["name"] for s in run["steps"]}


def test_a_rejected_answer_is_an_error_on_the_call_and_the_run(home: Path) -> None:
    from llms.structured import constrained

    class Answer(BaseModel):
        answer: int

    log = RunLog()
    with pytest.raises(Exception, match="no JSON"):
        constrained(load_model("fake:not json at all"), Answer, max_attempts=1).invoke("2+2?", {"callbacks": [log]})
    (call,) = _calls(log)
    assert call["error_type"] and call["raw_output"] == "not json at all"
    run = log.db.get_run(log.run_id)
    assert run is not None and run["status"] == "error" and run["error_type"]


def test_batch_runs_log_every_call_under_one_run(home: Path) -> None:
    from langchain_core.output_parsers import StrOutputParser

    log = RunLog()
    chain = load_model("fake:echo") | StrOutputParser()
    assert chain.batch([f"q{i}" for i in range(6)], {"callbacks": [log], "max_concurrency": 3}) == [
        f"q{i}" for i in range(6)
    ]
    calls = _calls(log)
    assert sorted(c["raw_output"] for c in calls) == [f"q{i}" for i in range(6)]
    assert all(c["parsed_output"] == c["raw_output"] for c in calls)


def test_activate_logs_everything_inside_the_block(home: Path) -> None:
    log = RunLog(app="block")
    with log.activate():
        load_model("fake:hi").invoke("hello")
        load_model("fake:bye").invoke("hello")
    assert [c["raw_output"] for c in _calls(log)] == ["hi", "bye"]
    assert log.db.get_run(log.run_id)["status"] == "ok"  # type: ignore[index]


def test_secrets_are_never_stored(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "hunter2-not-a-real-key-123"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    log = RunLog(args={"api_key": secret, "header": "Authorization: Bearer abcdef123456", "q": "x"})
    load_model(f"fake:the key is {secret}").invoke(f"say {secret} and sk-proj-0123456789", {"callbacks": [log]})
    log.finish()
    raw = (home / "runs.db").read_bytes() + b"".join(p.read_bytes() for p in home.glob("runs.db-*"))
    assert secret.encode() not in raw and b"abcdef123456" not in raw and b"0123456789" not in raw
    assert "***" in _calls(log)[0]["raw_output"]


def test_a_logging_failure_warns_once_and_never_breaks_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "runs.db").mkdir()  # a directory where the database should be: every write fails
    log = RunLog(tmp_path / "runs.db")
    model = load_model("fake:fine")
    assert [model.invoke("a", {"callbacks": [log]}).content for _ in range(3)] == ["fine"] * 3
    assert log.disabled
    assert capsys.readouterr().err.count("warning: run history is off") == 1


def test_schema_is_versioned(tmp_path: Path) -> None:
    db = HistoryDB(tmp_path / "runs.db")
    db.start_run("r", app="a")
    with sqlite3.connect(tmp_path / "runs.db") as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(SchemaVersionError, match="newer"):
        HistoryDB(tmp_path / "runs.db").list_runs()


def test_a_file_made_before_a_column_was_added_gets_the_column_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    HistoryDB(path).start_run("before", app="a")
    with sqlite3.connect(path) as raw:  # the file as an earlier build wrote it: no `spec`, no `cache_hit`
        raw.execute("ALTER TABLE steps DROP COLUMN spec")
        raw.execute("ALTER TABLE steps DROP COLUMN cache_hit")
    db = HistoryDB(path)
    db.add_step("before", {"kind": "llm", "name": "m", "spec": "local", "cache_hit": True})
    run = db.get_run("before")
    assert run is not None and run["app"] == "a"
    assert [(s["spec"], s["cache_hit"]) for s in run["steps"]] == [("local", True)]


def test_prune_and_find(tmp_path: Path) -> None:
    db = HistoryDB(tmp_path / "runs.db")
    db.start_run("old-run", app="a", started=1000.0)
    db.add_step("old-run", {"kind": "chain", "name": "s", "started": 1000.0})
    db.start_run("new-run", app="b", started=5000.0)
    assert db.find_run("last") == "new-run" and db.find_run("-2") == "old-run" and db.find_run("old") == "old-run"
    assert db.prune(older_than_s=100, now=5050.0) == 1
    assert [r["id"] for r in db.list_runs()] == ["new-run"] and db.count("steps") == 0

"""`recipes logs` and what every app run writes: the run history, --cache, --record / --replay, --no-log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.apps.conftest import RunCli

FAKE = 'fake:{"answer": "4"}'


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RECIPES_HOME", str(tmp_path))
    monkeypatch.delenv("RECIPES_NO_LOG", raising=False)
    return tmp_path


def _latest(run_cli: RunCli, n: int = 1) -> list[dict]:
    code, out, err = run_cli("logs", "--json", "-n", str(n))
    assert code == 0, err
    return list(json.loads(out))


def test_a_run_is_logged_with_its_steps_prompt_and_output(home: Path, run_cli: RunCli) -> None:
    code, out, err = run_cli("run", "json-qa", "--model", FAKE, "What is 2+2?")
    assert code == 0 and json.loads(out) == {"answer": "4"}, err
    (run,) = _latest(run_cli)
    assert run["app"] == "json-qa" and run["status"] == "ok" and run["exit_code"] == 0
    assert run["args"]["question"] == ["What is 2+2?"] and run["models"] == [{"spec": FAKE, "backend": "fake"}]
    (call,) = [s for s in run["steps"] if s["kind"] == "chat"]
    assert call["messages"][-1]["content"].endswith("question: What is 2+2?")
    assert call["raw_output"] == '{"answer": "4"}' and call["parsed_output"] == {"answer": "4"}
    assert call["finish_reason"] == "stop" and call["total_tokens"] > 0 and call["latency_s"] >= 0

    code, table, _ = run_cli("logs")
    assert code == 0 and run["id"][:12] in table and "json-qa" in table
    code, shown, _ = run_cli("logs", "show", run["id"][:8])
    assert code == 0 and "human: Return a JSON object" in shown and 'output: {"answer": "4"}' in shown
    code, shown_json, _ = run_cli("logs", "show", "last", "--json")
    assert code == 0 and json.loads(shown_json)["id"] == run["id"]


def test_no_log_and_the_environment_turn_it_off(home: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_cli("run", "json-qa", "--model", FAKE, "--no-log", "q?")[0] == 0
    monkeypatch.setenv("RECIPES_NO_LOG", "1")
    assert run_cli("run", "json-qa", "--model", FAKE, "q?")[0] == 0
    assert _latest(run_cli) == []


def test_a_failed_run_is_logged_as_such(home: Path, run_cli: RunCli) -> None:
    code, _, err = run_cli("run", "json-qa", "--model", "fake:no json here", "q?")
    assert code == 1 and err.startswith("error:")
    (run,) = _latest(run_cli)
    assert run["status"] == "error" and run["exit_code"] == 1 and run["error_type"]
    assert any(s["kind"] == "chat" and s["error_type"] for s in run["steps"])  # the parser's verdict, on the call


def test_path_and_prune(home: Path, run_cli: RunCli) -> None:
    assert run_cli("logs", "path")[1].strip() == str(home / "runs.db")
    run_cli("run", "json-qa", "--model", FAKE, "q?")
    assert run_cli("logs", "prune", "--older-than", "30d")[1].startswith("removed 0 run(s)")
    assert run_cli("logs", "prune", "--older-than", "0s")[1].startswith("removed 1 run(s)")
    assert run_cli("logs", "prune", "--older-than", "soon")[0] != 0
    assert run_cli("logs", "show", "nope")[0] == 1


def test_cache_hits_are_marked_in_the_log(home: Path, run_cli: RunCli) -> None:
    for _ in range(2):
        assert run_cli("run", "json-qa", "--model", FAKE, "--cache", "What is 2+2?")[0] == 0
    second, first = _latest(run_cli, 2)
    hits = [[s["cache_hit"] for s in run["steps"] if s["kind"] == "chat"] for run in (first, second)]
    assert hits == [[False], [True]] and (home / "cache.db").exists()


def test_record_then_replay_an_app(home: Path, run_cli: RunCli, tmp_path: Path) -> None:
    tape = tmp_path / "qa.jsonl"
    assert run_cli("run", "json-qa", "--model", 'fake:{"answer": "Paris"}', "--record", str(tape), "Capital?")[0] == 0
    code, out, err = run_cli("run", "json-qa", "--replay", str(tape), "--model", "fake:anything", "Capital?")
    assert code == 0 and json.loads(out) == {"answer": "Paris"}, err
    code, _, err = run_cli("run", "json-qa", "--replay", str(tape), "Another question?")
    assert code == 1 and err.count("\n") == 1 and "replay:" in err and "Another question?" in err


@pytest.mark.slow
def test_a_cached_rerun_on_the_embedded_model_is_hits_and_fast(
    home: Path, run_cli: RunCli, embedded_model_dir: Path
) -> None:
    question = "What is the capital of France?"
    outs = []
    for _ in range(2):
        code, out, err = run_cli("run", "json-qa", "--cache", "--max-new-tokens", "24", question)
        assert code == 0, err
        outs.append(json.loads(out))
    assert outs[0] == outs[1]
    second, first = _latest(run_cli, 2)

    def calls(run: dict) -> list[dict]:
        return [s for s in run["steps"] if s["kind"] != "chain"]

    assert calls(first) and not any(s["cache_hit"] for s in calls(first))
    assert calls(second) and all(s["cache_hit"] for s in calls(second))
    assert all(s["engine"] for s in calls(first))  # the engine, from the model's own params
    model_time = [sum(s["latency_s"] for s in calls(run)) for run in (first, second)]
    assert model_time[1] < 0.1 * model_time[0], model_time

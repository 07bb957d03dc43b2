"""Reliability cases for the apps: bounded inputs, clean Ctrl-C, resumable and placeholder-free output
files, and inputs refused in one line. Each test here failed on the code before the fix (see the docstrings)."""

from __future__ import annotations

import _thread
import io
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableLambda

from apps.runner import drop_torn_line, read_results, run_many
from llms import FakeChatModel
from tests.apps.conftest import RunCli, call_cli, interrupt_after_lines

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "RECIPES_THREADS": "1", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def recipes(*args: str, timeout: float = 120, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "apps.cli", *args], cwd=ROOT, env=ENV, capture_output=True,
                          text=True, timeout=timeout, **kwargs)


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, stderr
    return lines[0]


class Breaks(FakeChatModel):
    """The fake, raising `error` on every call (a server that died, a model that cannot load a prompt)."""

    error: Any = ConnectionError

    def _next_text(self, messages: list[BaseMessage], stop: list[str] | None) -> tuple[str, str]:
        raise self.error("the server went away")


# -- bounded inputs -------------------------------------------------------------------------------------------
def test_json_qa_input_from_dev_zero_stops_at_the_cap() -> None:
    """Before: `--input /dev/zero` read until the kernel killed the process (here: the 120 s timeout)."""
    started = time.monotonic()
    done = recipes("run", "json-qa", "--input", "/dev/zero", "--model", 'fake:{"answer": "4"}')
    assert done.returncode == 1 and time.monotonic() - started < 60
    line = one_error_line(done.stderr)
    assert "/dev/zero is larger than the 64 MiB cap on input files" in line and "RECIPES_MAX_INPUT_BYTES" in line


def test_chat_stdin_from_dev_zero_stops_at_the_line_cap() -> None:
    """Before: `recipes run chat < /dev/zero` read one endless line into memory."""
    with open("/dev/zero", "rb") as zero:
        done = recipes("run", "chat", "--model", "fake:echo", stdin=zero)
    assert done.returncode == 1 and "longer than 100000 characters" in one_error_line(done.stderr)


def test_every_input_file_option_honours_the_cap(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: judge's and self-instruct's files were read whole, whatever their size."""
    monkeypatch.setenv("RECIPES_MAX_INPUT_BYTES", "1K")
    big_txt = tmp_path / "big.txt"
    big_txt.write_text("What is 2+2?\n" * 200, encoding="utf-8")
    big_json = tmp_path / "big.json"
    big_json.write_text(json.dumps([{"instruction": "Say hi.", "input": "", "output": "Hi."}] * 40), encoding="utf-8")
    runs = {
        "json-qa": ("--input", str(big_txt)),
        "judge": ("--instructions", str(big_txt), "--a", "fake:x", "--b", "fake:y"),
        "judge answers": ("--a-answers", str(big_json), "--b", "fake:y"),
        "self-instruct": ("--seed-file", str(big_json), "--out", str(tmp_path / "t.json")),
    }
    for name, args in runs.items():
        code, _, err = run_cli("run", name.split()[0], *args, "--model", 'fake:{"answer": "4"}')
        line = one_error_line(err)
        assert code == 1 and "larger than the 1 KiB cap" in line and "RECIPES_MAX_INPUT_BYTES" in line, name
    monkeypatch.setenv("RECIPES_MAX_INPUT_BYTES", "1M")  # raised: the same file runs
    code, _, err = run_cli("run", "json-qa", "--input", str(big_txt), "--output", str(tmp_path / "o.jsonl"),
                           "--model", 'fake:{"answer": "4"}')
    assert code == 0 and "200 inputs: 200 ok" in err
    monkeypatch.setenv("RECIPES_MAX_INPUT_BYTES", "a lot")
    code, _, err = run_cli("run", "json-qa", "--input", str(big_txt), "--model", "fake:x")
    assert code == 1 and "RECIPES_MAX_INPUT_BYTES" in one_error_line(err)


def test_deeply_nested_json_inputs_are_typed_errors(run_cli: RunCli, tmp_path: Path) -> None:
    """Before: a bare RecursionError."""
    deep = tmp_path / "deep.jsonl"
    deep.write_text("[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    code, _, err = run_cli("run", "json-qa", "--input", str(deep), "--model", "fake:x")
    assert code == 1 and "deep.jsonl:1: JSON nested too deeply" in one_error_line(err)


# -- Ctrl-C ---------------------------------------------------------------------------------------------------
def test_ctrl_c_during_a_local_batch_run_exits_130_with_whole_lines(
    tiny_gpt_neo_dir: Path, tmp_path: Path, run_cli: RunCli
) -> None:
    """Before: the process died of SIGABRT ("terminate called without an active exception", exit -6): worker
    threads were still inside torch `generate` when the interpreter shut down."""
    questions = tmp_path / "q.txt"
    questions.write_text("".join(f"What is {i} + {i}?\n" for i in range(300)), encoding="utf-8")
    out = tmp_path / "answers.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "apps.cli", "run", "json-qa", "--model", f"hf:{tiny_gpt_neo_dir}", "--input",
         str(questions), "--output", str(out), "--concurrency", "2"],
        cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    stderr = interrupt_after_lines(proc, out, wait=180, then=60)
    assert proc.returncode == 130, stderr
    assert "terminate called" not in stderr and "Traceback" not in stderr
    assert "interrupted: 300 inputs:" in stderr
    text = out.read_text(encoding="utf-8")
    assert text.endswith("\n")
    records = [json.loads(line) for line in text.splitlines()]  # only whole lines
    assert len(records) >= 2 and len({r["index"] for r in records}) == len(records)
    answered = {r["index"] for r in records if "output" in r}
    # --resume finishes the rest: nothing reported is lost or repeated.
    code, _, err = run_cli("run", "json-qa", "--input", str(questions), "--output", str(out), "--resume",
                           "--model", 'fake:{"answer": "x"}')
    assert code == 0, err
    assert f"{len(answered)} already done" in err
    again = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert again[: len(records)] == records
    assert sorted(r["index"] for r in again if "output" in r) == list(range(300))


def test_ctrl_c_stops_the_calls_in_flight(tmp_path: Path) -> None:
    """Before: run_many returned with the worker still inside its call (the in-process form of the SIGABRT)."""
    out = tmp_path / "out.jsonl"
    stopped: list[str] = []
    workers: list[threading.Thread] = []

    def step(text: str) -> str:
        if text == "three":
            workers.append(threading.current_thread())
            _thread.interrupt_main()
            try:
                for _ in range(1000):  # a model's decoding loop: Python steps between native calls
                    time.sleep(0.01)
            except BaseException as err:
                stopped.append(type(err).__name__)
                raise
        return text.upper()

    started = time.monotonic()
    summary = run_many(RunnableLambda(step), ["one", "two", "three", "four"], out, max_concurrency=1, progress=False)
    assert summary.interrupted and summary.exit_code == 130
    assert time.monotonic() - started < 5  # the call was stopped, not waited for (it would take 10 s)
    assert stopped == ["_Cancelled"] and not workers[0].is_alive()
    assert {i: r["output"] for i, r in read_results(out).items()} == {0: "ONE", 1: "TWO"}


# -- output files ---------------------------------------------------------------------------------------------
def test_resume_drops_a_torn_last_line_before_appending(run_cli: RunCli, tmp_path: Path) -> None:
    """Before: json-qa had no --resume, and run_many(resume=True) glued the first new record onto the fragment
    (so that record was unreadable, and lost)."""
    questions = tmp_path / "q.txt"
    questions.write_text("one?\ntwo?\nthree?\n", encoding="utf-8")
    out = tmp_path / "a.jsonl"
    whole = json.dumps({"index": 0, "input": "one?", "output": {"answer": "1"}}) + "\n"
    out.write_text(whole + '{"index": 1, "input": "two?", "outp', encoding="utf-8")  # killed mid-write
    code, _, err = run_cli("run", "json-qa", "--input", str(questions), "--output", str(out), "--resume",
                           "--model", 'fake:{"answer": "n"}')
    assert code == 0, err
    assert "1 already done" in err
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == whole.strip() and len(lines) == 3
    assert sorted(json.loads(line)["index"] for line in lines) == [0, 1, 2]


def test_drop_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    for text, expected, changed in [
        ('{"a": 1}\n{"b"', '{"a": 1}\n', True),
        ('{"a": 1}\n{"b": 2}', '{"a": 1}\n{"b": 2}\n', True),  # a whole record only lacking its line break
        ('{"a": 1}\n', '{"a": 1}\n', False),
        ('{"cut', "", True),
        ("", "", False),
    ]:
        path.write_text(text, encoding="utf-8")
        assert drop_torn_line(path) is changed
        assert path.read_text(encoding="utf-8") == expected


def test_runs_that_fail_before_a_result_leave_no_file(run_cli: RunCli, tmp_path: Path) -> None:
    """Before: json-qa left an empty results file when interrupted (or failing) before its first result."""
    out = tmp_path / "out.jsonl"

    def interrupted(text: str) -> str:
        _thread.interrupt_main()
        time.sleep(1)
        return text

    assert run_many(RunnableLambda(interrupted), ["a"], out, progress=False).interrupted
    assert not out.exists()
    out.write_text("an older file\n", encoding="utf-8")
    assert run_many(RunnableLambda(interrupted), ["a"], out, progress=False).interrupted
    assert out.read_text(encoding="utf-8") == "an older file\n"  # not truncated by a run that wrote nothing
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    code, _, err = run_cli("run", "json-qa", "--input", str(empty), "--output", str(tmp_path / "new.jsonl"),
                           "--model", "fake:x")
    assert code == 1 and "holds no questions" in one_error_line(err) and not (tmp_path / "new.jsonl").exists()


def test_a_failed_self_instruct_run_leaves_no_empty_list(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: `[]` was written, and the rerun then refused to start without --force."""
    import apps.self_instruct as si

    monkeypatch.setattr(si, "model_from_args", lambda args: Breaks())
    out = tmp_path / "tasks.json"
    code, _, err = call_cli(capsys, "run", "self-instruct", "--n", "1", "--out", str(out))
    assert code == 1 and "the server went away" in err and "nothing written" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # neither tasks.json nor its journal
    task = {"instruction": "Name three animals that live in the ocean.", "input": "", "output": "Whale."}
    monkeypatch.setattr(si, "model_from_args", lambda args: FakeChatModel(responses=[json.dumps(task)]))
    code, _, err = call_cli(capsys, "run", "self-instruct", "--n", "1", "--out", str(out))  # no --force needed
    assert code == 0 and json.loads(out.read_text(encoding="utf-8")) == [task], err


def test_a_failed_judge_run_leaves_no_empty_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: --out was created empty at the start and left so when the judge failed."""
    import apps.judge as judge_app

    monkeypatch.setattr(judge_app, "model_from_args", lambda args: Breaks() if args.model == "judge" else
                        FakeChatModel(responses=["an answer"]))
    out = tmp_path / "r.jsonl"
    args = ("run", "judge", "--a", "x", "--b", "y", "--judge", "judge", "--limit", "1", "--out", str(out))
    code, _, err = call_cli(capsys, *args)
    assert code == 1 and "the server went away" in err and not out.exists()
    out.write_text("older results\n", encoding="utf-8")
    code, _, _ = call_cli(capsys, *args)
    assert code == 1 and out.read_text(encoding="utf-8") == "older results\n"
    code, _, err = call_cli(capsys, "run", "judge", "--a", "fake:x", "--b", "fake:y", "--out",
                            str(tmp_path / "no-dir" / "r.jsonl"))
    assert code == 1 and "no-dir" in one_error_line(err)


# -- inputs refused in one line -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("translate", "cheese", "--max-new-tokens", "0"), "max_new_tokens must be >= 1, got 0"),
        (("movie-night", "--classic", "comedies", "--max-new-tokens", "0"), "max_new_tokens must be >= 1, got 0"),
        (("movie-night", "--sequential-chain", "comedies", "--max-new-tokens", "0"), "max_new_tokens must be >= 1"),
        (("perfect-day", ""), "no city given"),
        (("perfect-day", "  ", "--classic"), "no city given"),
        (("translate", " "), "no word given"),
        (("json-qa", " "), "no question given"),
        (("movie-night", " "), "no answer given"),
        (("json-qa", "--resume", "What?"), "--resume needs --input and --output"),
        (("json-qa", "--input", "q.txt", "What?"), "not both"),
        (("json-qa", "--input", "q.txt", "--concurrency", "0"), "--concurrency must be >= 1"),
    ],
)
def test_bad_inputs_are_refused_in_one_line(
    run_cli: RunCli, args: tuple[str, ...], words: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: 0 tokens silently became 16 (translate) or 80 (classic movie night); empty cities and words ran."""
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # movie night asks when the answer is empty
    code, _, err = run_cli("run", *args, "--model", "fake:fine")
    assert code == 1 and words in one_error_line(err)


@pytest.mark.parametrize("app", ["perfect-day Paris", "translate cheese", "json-qa What?", "movie-night comedies",
                                 "self-instruct --n 1 --out OUT", "judge --a fake:x --b fake:y --limit 1 --out OUT"])
@pytest.mark.parametrize("option", ["--temperature nan", "--temperature inf", "--temperature -1",
                                    "--max-new-tokens 0", "--max-new-tokens -3"])
def test_bad_generation_options_are_refused_by_every_app(
    run_cli: RunCli, app: str, option: str, tmp_path: Path
) -> None:
    args = [str(tmp_path / "out") if a == "OUT" else a for a in app.split()]
    code, _, err = run_cli("run", *args, *option.split(), "--model", "fake:x")
    assert code == 1 and ("temperature must be" in err or "max_new_tokens must be" in err), err
    assert list(tmp_path.iterdir()) == []  # and no output file


def test_empty_questions_in_an_input_file_fail_alone(run_cli: RunCli, tmp_path: Path) -> None:
    """Before: an empty {"question": ""} was sent to the model as it was."""
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"question": "2+2?"}\n{"question": "  "}\n{"q": "no question key"}\n', encoding="utf-8")
    out = tmp_path / "a.jsonl"
    code, _, err = run_cli("run", "json-qa", "--input", str(questions), "--output", str(out),
                           "--model", 'fake:{"answer": "4"}')
    assert code == 1 and "3 inputs: 1 ok, 2 failed" in err
    records = read_results(out)
    assert records[0]["output"] == {"answer": "4"}
    assert records[1]["error"] == "ValueError: empty question"
    assert "question" in records[2]["error"]

"""`run_many` keeps every finished result: failures are recorded, Ctrl-C stops cleanly, Korean round-trips."""

from __future__ import annotations

import _thread
import io
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableLambda
from pydantic import BaseModel

from apps.runner import InputFileError, OutputFileError, RunSummary, read_inputs, read_results, run_many
from llms import load_model


def fails_on(bad: str) -> RunnableLambda[Any, Any]:
    def step(text: str) -> str:
        if text == bad:
            raise ValueError(f"cannot handle {text!r}\nsecond line of detail")
        return text.upper()

    return RunnableLambda(step)


INPUTS = ["one", "two", "three", "four", "five"]


def test_a_failing_item_is_recorded_and_the_others_still_run(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    summary = run_many(fails_on("three"), INPUTS, out, max_concurrency=2, progress=False)
    records = read_results(out)
    assert {i: r.get("output") for i, r in records.items()} == {0: "ONE", 1: "TWO", 2: None, 3: "FOUR", 4: "FIVE"}
    assert records[2]["input"] == "three"
    assert records[2]["error"] == "ValueError: cannot handle 'three'"
    assert records[2]["error_type"] == "ValueError"
    assert (summary.total, summary.ok, summary.failed, summary.not_run) == (5, 4, 1, 0)
    assert summary.exit_code == 1
    assert summary.errors == [(2, "ValueError: cannot handle 'three'")]
    assert summary.line() == f"5 inputs: 4 ok, 1 failed -> {out}"
    assert len(out.read_text(encoding="utf-8").splitlines()) == 5


def test_stop_on_error_keeps_what_finished_before(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    summary = run_many(fails_on("three"), INPUTS, out, max_concurrency=1, progress=False, stop_on_error=True)
    records = read_results(out)
    assert sorted(records) == [0, 1, 2]
    assert "error" in records[2]
    assert summary.stopped_on_error and summary.not_run == 2
    assert summary.line().startswith("stopped at the first error: 5 inputs: 2 ok, 1 failed, 2 not run")


def test_ctrl_c_mid_run_keeps_the_finished_results(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    release = threading.Event()

    def step(text: str) -> str:
        if text == "three":
            _thread.interrupt_main()  # what Ctrl-C does: KeyboardInterrupt in the main thread
            deadline = time.monotonic() + 60  # an interrupt that never comes fails the test, not hangs it
            while not release.wait(0.01) and time.monotonic() < deadline:  # stopped by the run, not waited for
                pass
        return text.upper()

    summary = run_many(RunnableLambda(step), INPUTS, out, max_concurrency=1, progress=False)
    release.set()
    assert summary.interrupted
    assert {i: r["output"] for i, r in read_results(out).items()} == {0: "ONE", 1: "TWO"}
    assert (summary.ok, summary.failed, summary.not_run, summary.exit_code) == (2, 0, 3, 130)
    assert summary.line().startswith("interrupted: 5 inputs: 2 ok, 0 failed, 3 not run")


def test_each_line_is_on_disk_before_the_next_item_finishes(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    seen_on_disk: list[int] = []

    def step(text: str) -> str:
        # One worker: the next item starts only after the previous line was written and flushed.
        seen_on_disk.append(len(out.read_text(encoding="utf-8").splitlines()) if out.exists() else 0)
        return text

    run_many(RunnableLambda(step), INPUTS, out, max_concurrency=1, progress=False)
    assert seen_on_disk == [0, 1, 2, 3, 4]


def test_korean_round_trips_through_files(tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("\ufeff서울의 날씨는?\n\n부산 맛집 추천해줘\r\nplain English\n", encoding="utf-8")
    inputs = read_inputs(src)
    assert inputs == ["서울의 날씨는?", "부산 맛집 추천해줘", "plain English"]
    out = tmp_path / "out.jsonl"
    summary = run_many(load_model("fake:echo"), inputs, out, progress=False)
    text = out.read_text(encoding="utf-8")
    assert "서울의 날씨는?" in text and "\\u" not in text  # readable UTF-8, not escapes
    assert sorted(r["output"] for r in read_results(out).values()) == sorted(inputs)
    assert summary.exit_code == 0


def test_jsonl_inputs_and_structured_outputs(tmp_path: Path) -> None:
    class Answer(BaseModel):
        city: str

    src = tmp_path / "in.jsonl"
    src.write_text('{"q": "수도?"}\n"just text"\n', encoding="utf-8")
    assert read_inputs(src) == [{"q": "수도?"}, "just text"]
    outputs = {0: Answer(city="서울"), 1: AIMessage(content="답")}
    stream = io.StringIO()
    run_many(
        RunnableLambda(lambda v: outputs[0] if isinstance(v, dict) else outputs[1]),
        read_inputs(src),
        stream,
        progress=False,
    )
    lines = sorted((json.loads(line) for line in stream.getvalue().splitlines()), key=lambda r: r["index"])
    assert [r["output"] for r in lines] == [{"city": "서울"}, "답"]
    assert lines[0]["input"] == {"q": "수도?"}


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("bad.jsonl", '{"ok": 1}\n{"broken": \n', "bad.jsonl:2: not valid JSON"),
        ("latin1.txt", "caf\xe9\n".encode("latin-1"), "not UTF-8"),
        ("missing.txt", None, "not found"),
    ],
)
def test_bad_input_files_are_typed_errors(tmp_path: Path, name: str, content: Any, words: str) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(InputFileError, match=words) as info:
        read_inputs(path)
    assert "\n" not in str(info.value)


def test_resume_runs_only_what_is_missing(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    run_many(fails_on("three"), INPUTS, out, progress=False)
    seen: list[str] = []

    def again(text: str) -> str:
        seen.append(text)
        return text.upper()

    summary = run_many(RunnableLambda(again), INPUTS, out, progress=False, resume=True)
    assert seen == ["three"]
    assert {i: r["output"] for i, r in read_results(out).items()} == dict(enumerate(s.upper() for s in INPUTS))
    assert (summary.ok, summary.skipped, summary.exit_code) == (1, 4, 0)


def test_concurrency_runs_every_item_once_and_no_progress_bar_without_a_tty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.jsonl"
    summary = run_many(RunnableLambda(lambda n: n * 2), range(20), out, max_concurrency=4)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert sorted(json.loads(line)["output"] for line in lines) == [n * 2 for n in range(20)]
    assert summary == RunSummary(total=20, ok=20, output=str(out), seconds=summary.seconds)
    assert capsys.readouterr().err == ""
    with pytest.raises(ValueError, match="max_concurrency"):
        run_many(RunnableLambda(str), ["a"], io.StringIO(), max_concurrency=0)


def test_unwritable_output_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(OutputFileError, match="no-such-dir") as info:
        run_many(RunnableLambda(str), ["a"], tmp_path / "no-such-dir" / "out.jsonl", progress=False)
    assert "\n" not in str(info.value)


def test_the_journal_writes_each_index_once_and_resume_knows_what_is_done(tmp_path: Path) -> None:
    from apps.journal import Journal

    out = tmp_path / "out.jsonl"
    journal = Journal(out, progress=False)
    assert not out.exists()  # nothing until the first line
    with journal:
        assert journal.write({"index": 0, "output": "서울"}) and journal.write({"index": 1, "error": "E: x"})
        assert not journal.write({"index": 0, "output": "again"})  # a retried batch's copy is dropped
    assert [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()] == [
        {"index": 0, "output": "서울"}, {"index": 1, "error": "E: x"}]
    with out.open("a", encoding="utf-8") as fh:
        fh.write('{"index": 2, "outp')  # cut by a kill
    with Journal(out, resume=True, progress=False) as again:
        assert again.done == {0}  # the failed one is to be run again
        assert again.write({"index": 1, "output": "fixed"}) and not again.write({"index": 0, "output": "dup"})
    assert {i: r.get("output") for i, r in read_results(out).items()} == {0: "서울", 1: "fixed"}
    kept_nowhere = Journal(None, progress=False)
    assert kept_nowhere.write({"index": 5}) and not kept_nowhere.write({"index": 5})

"""The self-instruct and judge apps as users run them: fake-model logic in-process, a tiny GPT-Neo end to end,
and the documented runs on the embedded model (slow)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage

from chains.judge import Tally
from chains.self_instruct import SIMILARITY_THRESHOLD, load_seed_tasks, rouge_l
from llms import FakeChatModel
from tests.apps.conftest import call_cli

OCEAN = {"instruction": "Name three animals that live in the ocean.", "input": "", "output": "Whale, shark, octopus."}
ROBOT = {"instruction": "Suggest a title for a story about a lost robot.", "input": "", "output": "The Long Way Home"}
PICNIC = {"instruction": "Plan a picnic menu for four people.", "input": "", "output": "Sandwiches, fruit, lemonade."}
POEM = {"instruction": "Write two lines of rhyme about the rain.", "input": "", "output": "Rain on the pane, again."}


def fake_spec(*tasks: dict[str, str]) -> str:
    return "fake:" + "|".join(json.dumps(t, ensure_ascii=False) for t in tasks)


def app(name: str, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`recipes run <name> ARGS` through the CLI, in this process."""
    return call_cli(capsys, "run", name.replace("_", "-"), *args)


class FailsAt(FakeChatModel):
    """The fake, raising `error` on its `at`-th call (like Ctrl-C or a server dying mid-run)."""

    at: int = 3
    error: Any = KeyboardInterrupt

    def _next_text(self, messages: list[BaseMessage], stop: list[str] | None) -> tuple[str, str]:
        if len(self.calls) + 1 == self.at:
            raise self.error("stop here")
        return super()._next_text(messages, stop)


def read_tasks(path: Path) -> list[dict[str, str]]:
    tasks = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(tasks, list) and all(set(t) == {"instruction", "input", "output"} for t in tasks)
    return tasks


# -- self-instruct ----------------------------------------------------------------------------------------------
def test_self_instruct_writes_alpaca_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "tasks.json"
    code, stdout, err = app("self_instruct", capsys, "--n", "2", "--out", str(out), "--max-concurrency", "1",
                            "--json", "--model", fake_spec(OCEAN, OCEAN, ROBOT))
    assert code == 0, err
    assert read_tasks(out) == [OCEAN, ROBOT]
    summary = json.loads(stdout)
    assert summary["new"] == 2 and summary["calls"] == 3 and summary["rejected"]["too similar"] == 1
    assert not (tmp_path / "tasks.json.partial.jsonl").exists()  # the journal is folded into the JSON


def test_an_existing_output_needs_resume_or_force(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "tasks.json"
    out.write_text(json.dumps([OCEAN]), encoding="utf-8")
    code, _, err = app("self_instruct", capsys, "--n", "2", "--out", str(out), "--model", fake_spec(ROBOT))
    assert code == 1 and "--resume" in err and read_tasks(out) == [OCEAN]  # nothing overwritten
    code, stdout, err = app("self_instruct", capsys, "--n", "3", "--out", str(out), "--resume", "--max-concurrency",
                            "1", "--model", fake_spec(OCEAN, ROBOT, PICNIC))
    assert code == 0, err
    assert read_tasks(out) == [OCEAN, ROBOT, PICNIC]  # the resumed task blocked its own copy
    assert "wrote 3 tasks" in stdout and "2 new" in stdout
    code, _, err = app("self_instruct", capsys, "--n", "1", "--out", str(out), "--force", "--model", fake_spec(POEM))
    assert code == 0 and read_tasks(out) == [POEM]


def test_an_interrupted_run_keeps_the_tasks_made_so_far(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import apps.self_instruct as si

    responses = [json.dumps(t) for t in (OCEAN, ROBOT, PICNIC, POEM)]
    monkeypatch.setattr(si, "model_from_args", lambda args: FailsAt(responses=responses, at=3))
    out = tmp_path / "tasks.json"
    code, _, err = app("self_instruct", capsys, "--n", "4", "--out", str(out), "--max-concurrency", "1")
    assert code == 130
    assert read_tasks(out) == [OCEAN, ROBOT]  # valid JSON with the two tasks made before Ctrl-C
    assert "interrupted" in err and "2 tasks" in err
    # Resuming picks them up and carries on to --n.
    monkeypatch.setattr(si, "model_from_args", lambda args: FakeChatModel(responses=responses))
    code, _, err = app("self_instruct", capsys, "--n", "4", "--out", str(out), "--max-concurrency", "1", "--resume")
    assert code == 0, err
    assert read_tasks(out) == [OCEAN, ROBOT, PICNIC, POEM]


def test_a_model_error_mid_run_is_not_a_rejection_and_keeps_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import apps.self_instruct as si

    failing = FailsAt(responses=[json.dumps(OCEAN), json.dumps(ROBOT)], at=3, error=ConnectionError)
    monkeypatch.setattr(si, "model_from_args", lambda args: failing)
    out = tmp_path / "tasks.json"
    code, _, err = app("self_instruct", capsys, "--n", "5", "--out", str(out), "--max-concurrency", "1")
    assert code == 1 and "error: stop here" in err and "wrote the 2 tasks" in err
    assert read_tasks(out) == [OCEAN, ROBOT]


def test_resume_reads_the_journal_a_killed_run_left(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "tasks.json"
    journal = tmp_path / "tasks.json.partial.jsonl"
    journal.write_text(json.dumps(OCEAN) + '\n{"instruction": "cut by the ki', encoding="utf-8")  # no <out> yet
    code, _, err = app("self_instruct", capsys, "--n", "1", "--out", str(out), "--model", fake_spec(ROBOT))
    assert code == 1 and "partial.jsonl exists" in err
    code, _, err = app("self_instruct", capsys, "--n", "2", "--out", str(out), "--resume", "--model", fake_spec(ROBOT))
    assert code == 0, err
    assert read_tasks(out) == [OCEAN, ROBOT] and not journal.exists()


def test_korean_self_instruct_writes_hangul_as_is(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    season = {"instruction": "좋아하는 계절을 고르고 그 이유를 설명하세요.", "input": "", "output": "가을, 선선해서."}
    copy = {"instruction": "새해 결심으로 삼을 목표 다섯 가지를 적어 주세요.", "input": "", "output": "운동"}
    out = tmp_path / "ko.json"
    code, stdout, err = app("self_instruct", capsys, "--lang", "ko", "--n", "1", "--out", str(out), "--json",
                            "--max-concurrency", "1", "--model", fake_spec(copy, season))
    assert code == 0, err
    assert read_tasks(out) == [season] and "좋아하는 계절" in out.read_text(encoding="utf-8")
    assert json.loads(stdout)["rejected"]["too similar"] == 1


def test_self_instruct_bad_arguments(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = app("self_instruct", capsys, "--n", "0", "--out", str(tmp_path / "t.json"), "--model", "fake:x")
    assert code == 1 and "--n" in err
    code, _, err = app("self_instruct", capsys, "--seed-file", str(tmp_path / "none.json"), "--model", "fake:x")
    assert code == 1 and "not found" in err


# -- judge ------------------------------------------------------------------------------------------------------
AGREE_A = 'fake:{"winner": "A", "reason": "clearer"}|{"winner": "B", "reason": "clearer"}'


def test_judge_prints_the_table_for_two_specs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    results = tmp_path / "results.jsonl"
    code, out, err = app("judge", capsys, "--a", "fake:Paris.", "--b", "fake:No idea.", "--judge", AGREE_A,
                         "--max-concurrency", "1", "--limit", "3", "--out", str(results))
    assert code == 0, err
    row_a = next(line for line in out.splitlines() if "A: fake:Paris." in line)
    row_b = next(line for line in out.splitlines() if "B: fake:No idea." in line)
    assert [c.strip() for c in row_a.split("│")[2:6]] == ["3", "0", "0", "100.0%"]
    assert [c.strip() for c in row_b.split("│")[2:6]] == ["0", "0", "3", "0.0%"]
    assert "A : B = 3 : 0 (0 ties)" in out and "shown first in 3 of 6 verdicts" in out
    lines = [json.loads(line) for line in results.read_text(encoding="utf-8").splitlines()]
    assert [r["index"] for r in lines] == [0, 1, 2]
    assert lines[0]["answer_a"] == "Paris." and lines[0]["b_first_mapped"] == "A"


def test_judge_json_and_plot(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    png = tmp_path / "wins.png"
    judge = 'fake:{"winner": "A", "reason": "r"}|{"winner": "B", "reason": "r"}|{"winner": "tie", "reason": "r"}'
    code, out, err = app("judge", capsys, "--a", "fake:one", "--b", "fake:two", "--judge", judge, "--limit", "3",
                         "--max-concurrency", "1", "--json", "--plot", str(png))
    assert code == 0, err
    data = json.loads(out)
    # Verdicts cycle A, B, tie, A, B, tie: pair 1 = (A, B->A) A wins; pair 2 = (tie, A->B) tie; pair 3 = (B, tie) tie.
    assert [r["winner"] for r in data["results"]] == ["A", "tie", "tie"]
    assert (data["wins"], data["ties"], data["losses"], data["win_rate"]) == (1, 2, 0, pytest.approx(2 / 3, 1e-3))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_chart_shows_the_tally() -> None:
    from apps.judge import tally_figure

    fig = tally_figure(Tally(wins=90, ties=3, losses=89), "alpaca", "text-davinci-003")
    ax = fig.axes[0]
    assert [p.get_height() for p in ax.patches] == [90, 3, 89]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["A wins\nalpaca", "ties", "B wins\ntext-davinci-003"]
    same = tally_figure(Tally(wins=1, ties=2, losses=3), "local", "local").axes[0]  # one spec on both sides
    assert [p.get_height() for p in same.patches] == [1, 2, 3] and len({p.get_x() for p in same.patches}) == 3
    assert [t.get_text() for t in ax.texts] == ["90", "3", "89"]  # the counts are written on the bars
    assert "50.3%" in ax.get_title()  # (90 + 3/2) / 182


def test_plot_without_matplotlib_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from apps.judge import PlotUnavailableError, tally_figure

    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # as if not installed
    with pytest.raises(PlotUnavailableError, match=r"chain-recipes\[plot\]"):
        tally_figure(Tally(1, 0, 0), "a", "b")


def test_judge_answer_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    a = tmp_path / "a.json"  # self-instruct's own output format
    a.write_text(json.dumps([{**OCEAN, "output": "Whale."}, {**ROBOT, "output": "Lost."}]), encoding="utf-8")
    b = tmp_path / "b.txt"
    b.write_text("Whales and more\nRobot\n", encoding="utf-8")
    code, out, err = app("judge", capsys, "--a-answers", str(a), "--b-answers", str(b), "--judge", AGREE_A,
                         "--max-concurrency", "1", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert [r["instruction"] for r in data["results"]] == [OCEAN["instruction"], ROBOT["instruction"]]
    assert data["results"][1]["answer_b"] == "Robot" and data["a"] == "file:a.json"
    short = tmp_path / "short.txt"
    short.write_text("one\n", encoding="utf-8")
    code, _, err = app("judge", capsys, "--a-answers", str(a), "--b-answers", str(short), "--judge", AGREE_A)
    assert code == 1 and "1 answers for 2 instructions" in err
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps(PICNIC) + "\n" + json.dumps(ROBOT) + "\n", encoding="utf-8")
    code, _, err = app("judge", capsys, "--a-answers", str(a), "--b-answers", str(other), "--judge", AGREE_A)
    assert code == 1 and "item 1 answers another instruction" in err
    code, _, err = app("judge", capsys, "--b", "fake:x", "--judge", AGREE_A)
    assert code == 1 and "--a SPEC or --a-answers" in err


def test_judge_korean_instructions_and_interrupt(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import apps.judge as judge_app

    instructions = tmp_path / "ko.txt"
    instructions.write_text("한국의 수도는 어디인가요?\n과일 하나를 말해 주세요.\n", encoding="utf-8")
    verdicts = ['{"winner": "A", "reason": "정확해요"}', '{"winner": "B", "reason": "정확해요"}']
    judge = FailsAt(responses=verdicts, at=3)  # Ctrl-C while judging the second instruction
    seen: dict[str, Any] = {}

    def model_for(args: Any) -> Any:
        seen.setdefault(args.model, FakeChatModel(responses=[args.model]) if args.model != "judge" else judge)
        return seen[args.model]

    monkeypatch.setattr(judge_app, "model_from_args", model_for)
    results = tmp_path / "r.jsonl"
    code, out, err = app("judge", capsys, "--instructions", str(instructions), "--a", "서울", "--b", "부산",
                         "--judge", "judge", "--max-concurrency", "1", "--out", str(results))
    assert code == 130 and "interrupted: 1 of 2" in err
    assert "### 답변 A:\n서울" in judge.calls[0][-1].text  # Korean judge prompt, A's answer first
    assert "### 명령어:\n한국의 수도는" in seen["서울"].calls[0][-1].text  # Korean Alpaca prompt for answers
    assert [json.loads(line)["winner"] for line in results.read_text(encoding="utf-8").splitlines()] == ["A"]
    assert "A : B = 1 : 0" in out  # the table covers what was judged


# -- tiny GPT-Neo end to end ------------------------------------------------------------------------------------
def test_both_apps_on_tiny_gpt_neo(capsys: pytest.CaptureFixture[str], tmp_path: Path, roomy_tiny_dir: Path) -> None:
    out = tmp_path / "tasks.json"
    code, stdout, err = app("self_instruct", capsys, "--model", f"hf:{roomy_tiny_dir}", "--n", "2", "--max-calls", "2",
                            "--out", str(out), "--json")
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["calls"] == 2 and summary["new"] + sum(summary["rejected"].values()) == 2
    if summary["new"]:
        assert len(read_tasks(out)) == summary["new"]
    else:  # a random model may keep nothing: then no file (an empty list would block the next run)
        assert not out.exists() and summary["written"] is False
    code, stdout, err = app("judge", capsys, "--a", f"hf:{roomy_tiny_dir}", "--b", "fake:A fine answer.",
                            "--judge", f"hf:{roomy_tiny_dir}", "--limit", "2", "--max-new-tokens", "8")
    assert code == 0, err
    assert "win rate" in stdout and "A : B = " in stdout
    row = next(line for line in stdout.splitlines() if "A: hf:" in line)
    assert sum(int(c) for c in row.split("│")[2:5]) == 2  # wins + ties + losses = the 2 instructions


# -- the must-shows on the embedded model -----------------------------------------------------------------------
@pytest.mark.slow
def test_self_instruct_on_the_embedded_model(
    embedded_model_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "tasks.json"
    # The app's documented `--n 10`; four batched rounds of 6 prompts and a 200-token cap keep it near a minute and
    # a half on 1 thread. With the Self-Instruct filters (statements, blacklist, copies...) 18 calls kept 2 tasks and
    # 24 kept 4, measured on the int4 engine (most drafts run past the 200-token cap).
    code, stdout, err = app("self_instruct", capsys, "--n", "10", "--out", str(out), "--max-concurrency", "6",
                            "--max-calls", "24", "--max-new-tokens", "200", "--json")
    assert code == 0, err
    tasks = read_tasks(out)
    assert len(tasks) >= 3 and json.loads(stdout)["new"] == len(tasks)
    pool = [t.instruction for t in load_seed_tasks(lang="en")]
    for task in tasks:  # new, and de-duplicated against the seeds and each other
        assert task["instruction"] and task["output"]
        assert max(rouge_l(task["instruction"], seen) for seen in pool) < SIMILARITY_THRESHOLD
        pool.append(task["instruction"])


@pytest.mark.slow
def test_judge_two_specs_on_the_embedded_model(
    embedded_model_dir: Path, capsys: pytest.CaptureFixture[str], tiny_gpt_neo_dir: Path
) -> None:
    code, out, err = app("judge", capsys, "--a", "local", "--b", f"hf:{tiny_gpt_neo_dir}", "--judge", "local",
                         "--limit", "2", "--max-new-tokens", "48")
    assert code == 0, err
    row_a = next(line for line in out.splitlines() if "A: local" in line)
    wins, ties, losses = (int(c) for c in row_a.split("│")[2:5])
    assert wins + ties + losses == 2
    assert "judged by local in both orders" in out

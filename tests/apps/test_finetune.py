"""finetune and dpo on a tiny random GPT-Neo (real TRL training, a few steps), and judge --prefs with fakes."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from chains.preferences import PreferenceFileError, alpaca_prompt, load_preferences, preference_rows
from chains.self_instruct import load_seed_tasks
from tests.apps.conftest import call_cli

pytest.importorskip("trl")  # the optional `train` extra


def tasks_file(tmp_path: Path) -> Path:
    """20 Alpaca tasks, Korean among them: the shipped seeds."""
    tasks = load_seed_tasks(lang="en")[:14] + load_seed_tasks(lang="ko")[:6]
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps([t.model_dump() for t in tasks], ensure_ascii=False), encoding="utf-8")
    return path


def weights(folder: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


@pytest.fixture(scope="module")
def tuned(tiny_gpt_neo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    """The issue's command: the tiny GPT-Neo fine-tuned 20 steps on 20 tasks (one batch of 2 a step, to keep it
    fast; the default rate): (data, folder, the --json summary)."""
    from apps.cli import main

    tmp = tmp_path_factory.mktemp("finetune")
    data, out = tasks_file(tmp), tmp / "tuned"
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(["run", "finetune", "--data", str(data), "--base", f"hf:{tiny_gpt_neo_dir}", "--out", str(out),
                     "--max-steps", "20", "--grad-accum", "1", "--threads", "1", "--json",
                     "--plot", str(tmp / "loss.png"), "--eval", str(data)])
    assert code == 0, buffer.getvalue()
    return data, out, json.loads(buffer.getvalue())  # stdout is the JSON object alone


def test_finetune_lowers_the_loss_on_its_tasks_measured_apart_from_the_trainer(
    tuned: tuple[Path, Path, dict[str, Any]], tiny_gpt_neo_dir: Path
) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from apps.finetune import sft_rows
    from apps.training_common import completion_loss
    from chains.self_instruct import load_tasks

    data, out, summary = tuned
    assert summary["steps"] == 20 and summary["examples"] == 20 and summary["out"] == str(out)
    assert summary["last_loss"] < summary["first_loss"]
    assert summary["seconds"] > 0 and (out.parent / "loss.png").read_bytes().startswith(b"\x89PNG")
    # The same rows, scored by one forward pass each, before (base) and after (saved folder).
    tokenizer = AutoTokenizer.from_pretrained(out)
    rows = sft_rows(load_tasks(data), tokenizer)
    before = completion_loss(AutoModelForCausalLM.from_pretrained(tiny_gpt_neo_dir), tokenizer, rows)
    after = completion_loss(AutoModelForCausalLM.from_pretrained(out), tokenizer, rows)
    assert after < before, (before, after)  # the default rate moves a random model slowly, yet surely (seeded)
    # --eval reports the same measure (here on the training tasks themselves), before and after training.
    assert summary["eval_tasks"] == 20
    assert summary["eval_loss_before"] == pytest.approx(before, abs=1e-3)
    assert summary["eval_loss_after"] == pytest.approx(after, abs=1e-3)
    # Loss on the response only: the prompt is masked, so the model is not taught to write Alpaca's preamble.
    assert rows[0]["prompt"].startswith("User: Below is an instruction") and rows[0]["prompt"].endswith("Assistant:")
    assert rows[0]["completion"] == " " + load_tasks(data)[0].output


def test_the_saved_folder_loads_with_hf_and_answers_with_its_chat_template(
    tuned: tuple[Path, Path, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    from llms import load_model
    from llms.engines.base import FALLBACK_CHAT_TEMPLATE

    _, out, _ = tuned
    assert (out / "chat_template.jinja").read_text(encoding="utf-8") == FALLBACK_CHAT_TEMPLATE
    meta = json.loads((out / "training.json").read_text(encoding="utf-8"))
    assert meta["method"] == "sft" and meta["examples"] == 20 and len(meta["losses"]) == 20
    reply = load_model(f"hf:{out}", max_new_tokens=8).invoke("Name a fruit.")
    assert reply.usage_metadata is not None and reply.usage_metadata["output_tokens"] >= 1
    code, stdout, err = call_cli(capsys, "run", "perfect-day", "Paris", "--model", f"hf:{out}", "--max-new-tokens",
                                 "8", "--no-stream", "--no-log")
    assert code == 0, err
    assert stdout.strip()


def test_finetune_with_lora_merges_the_adapters_before_saving(tiny_gpt_neo_dir: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "lora"
    code, stdout, err = call_cli(capsys, "run", "finetune", "--data", str(tasks_file(tmp_path)), "--base",
                                 f"hf:{tiny_gpt_neo_dir}", "--out", str(out), "--lora", "--max-steps", "2",
                                 "--threads", "1", "--eval", "seeds")
    assert code == 0, err
    assert "trained 2 steps on 20 examples" in stdout and f"--model hf:{out}" in stdout
    # The shipped seeds as held-out tasks, scored through the adapters before they are merged.
    meta = json.loads((out / "training.json").read_text(encoding="utf-8"))
    assert meta["eval"] == "seeds" and meta["eval_tasks"] == 30
    assert f"held-out response loss (30 tasks): {meta['eval_loss_before']} -> {meta['eval_loss_after']}" in stdout
    assert meta["eval_loss_after"] != meta["eval_loss_before"]
    assert not list(out.glob("adapter_*"))  # merged: a plain transformers folder, no peft needed to load it
    base, tuned = weights(tiny_gpt_neo_dir), weights(out)
    assert set(tuned) == set(base)  # no lora_A / lora_B tensors left
    assert any(not tuned[k].equal(base[k]) for k in base if k.endswith("q_proj.weight"))


def test_dpo_trains_on_ten_pairs_and_saves(tiny_gpt_neo_dir: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    seeds = load_seed_tasks(lang="en")[:10]
    records = [{"instruction": t.instruction, "input": t.input, "answer_a": t.output, "answer_b": "I don't know.",
                "winner": "A"} for t in seeds]
    prefs = tmp_path / "prefs.jsonl"
    prefs.write_text("".join(json.dumps(r) + "\n" for r in preference_rows(records)), encoding="utf-8")
    out = tmp_path / "dpo"
    code, stdout, err = call_cli(capsys, "run", "dpo", "--data", str(prefs), "--base", f"hf:{tiny_gpt_neo_dir}",
                                 "--out", str(out), "--max-steps", "3", "--lr", "1e-3", "--threads", "1", "--json")
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["steps"] == 3 and summary["examples"] == 10 and isinstance(summary["last_loss"], float)
    assert json.loads((out / "training.json").read_text(encoding="utf-8"))["method"] == "dpo"
    base, tuned = weights(tiny_gpt_neo_dir), weights(out)
    assert any(not tuned[k].equal(base[k]) for k in base)


def test_judge_prefs_writes_preference_pairs_without_ties(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prefs = tmp_path / "prefs.jsonl"
    # Verdicts in turn: A first "A", B first "B" (= A) -> A wins; then "tie", "tie" -> a tie; then A again.
    judge = ('fake:{"winner": "A", "reason": "r"}|{"winner": "B", "reason": "r"}|{"winner": "tie", "reason": "r"}|'
             '{"winner": "tie", "reason": "r"}')
    code, _, err = call_cli(capsys, "run", "judge", "--a", "fake:Paris.", "--b", "fake:No idea.", "--judge", judge,
                            "--max-concurrency", "1", "--limit", "3", "--prefs", str(prefs), "--no-log")
    assert code == 0, err
    rows = [json.loads(line) for line in prefs.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 2 and "wrote 2 preference pairs" in err  # the tie is skipped
    first = load_seed_tasks(lang="en")[0]
    assert rows[0] == {"prompt": alpaca_prompt(first.instruction, first.input), "chosen": "Paris.",
                       "rejected": "No idea.", "instruction": first.instruction, "input": first.input}
    assert [p.chosen for p in load_preferences(prefs)] == ["Paris.", "Paris."]


def test_preference_rows_swap_for_b_and_skip_ties_and_equal_answers_korean_included() -> None:
    records = [{"instruction": "과일 하나를 말해 주세요.", "answer_a": "자동차", "answer_b": "사과", "winner": "B"},
               {"instruction": "Name a fruit.", "answer_a": "Apple.", "answer_b": "Apple.", "winner": "A"},
               {"instruction": "Name a fruit.", "answer_a": "Apple.", "answer_b": "Car.", "winner": "tie"}]
    rows = preference_rows(records)
    assert len(rows) == 1 and (rows[0]["chosen"], rows[0]["rejected"]) == ("사과", "자동차")
    assert rows[0]["prompt"].endswith("### 명령어:\n과일 하나를 말해 주세요.\n\n### 응답:")  # the Korean template


def test_training_errors_are_one_line_and_typed(tiny_gpt_neo_dir: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    data = tasks_file(tmp_path)
    code, _, err = call_cli(capsys, "run", "finetune", "--data", str(data), "--base", "fake:hi", "--out",
                            str(tmp_path / "x"))
    assert code == 1 and "only local models train here" in err and len(err.strip().splitlines()) == 1
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine", encoding="utf-8")
    code, _, err = call_cli(capsys, "run", "finetune", "--data", str(data), "--base", f"hf:{tiny_gpt_neo_dir}",
                            "--out", str(taken))
    assert code == 1 and "--force" in err and (taken / "keep.txt").read_text(encoding="utf-8") == "mine"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "p", "chosen": "c"}\n', encoding="utf-8")
    with pytest.raises(PreferenceFileError, match=r"row 1.*rejected"):
        load_preferences(bad)
    code, _, err = call_cli(capsys, "run", "dpo", "--data", str(bad), "--out", str(tmp_path / "y"))
    assert code == 1 and "row 1" in err

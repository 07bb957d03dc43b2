"""The batch apps on a Ray cluster (one local Ray, num_cpus=2, for the module): every index exactly once, through
a killed worker, Ctrl-C and --resume, into the same journal lines as the local runner."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from apps.runner import read_results
from tests.apps.conftest import RunCli, call_cli, interrupt_after_lines

pytestmark = pytest.mark.slow  # starts a Ray cluster
ROOT = Path(__file__).resolve().parents[2]
QUIET = {"RECIPES_THREADS": "1", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "RECIPES_NO_LOG": "1"}
FOUR = 'fake:{"answer": "4"}'


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    ray = pytest.importorskip("ray", reason="the scale extra (ray) is not installed")
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers need not import the test module
    yield ray
    ray.shutdown()


def questions(path: Path, n: int) -> Path:
    path.write_text("".join(f"What is {i} + {i}?\n" for i in range(n)), encoding="utf-8")
    return path


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_json_qa_on_ray_writes_every_index_exactly_once(local_ray: Any, run_cli: RunCli, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    code, _, err = run_cli("run", "json-qa", "--model", FOUR, "--input", str(questions(tmp_path / "q200.txt", 200)),
                           "--output", str(out), "--executor", "ray", "--concurrency", "8")
    assert code == 0, err
    assert "200 inputs: 200 ok, 0 failed" in err
    records = lines_of(out)
    assert sorted(r["index"] for r in records) == list(range(200))
    assert all(r["output"] == {"answer": "4"} and r["input"] == f"What is {r['index']} + {r['index']}?"
               for r in records)


@dataclass(frozen=True)
class Dies:
    """A recipe whose worker is killed (ray.kill on its own actor handle) on input 50 while `marker` exists; each
    worker start is noted in `starts`, so the test sees the restart."""

    marker: str
    starts: str

    def __call__(self) -> Any:
        import ray

        with open(self.starts, "a", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()}\n")

        def upper(values: list[Any]) -> list[Any]:
            time.sleep(0.02)
            if 50 in values and os.path.exists(self.marker):
                os.unlink(self.marker)  # once: the retried batch must succeed
                ray.kill(ray.get_runtime_context().current_actor, no_restart=False)
                time.sleep(30)  # killed before this ends
            return [f"n{v}" for v in values]

        return upper


def test_a_killed_worker_loses_and_repeats_no_index(local_ray: Any, tmp_path: Path) -> None:
    import argparse

    from apps.scale import run_on_ray

    marker, starts = tmp_path / "kill-once", tmp_path / "starts.txt"
    marker.touch()
    out = tmp_path / "out.jsonl"
    args = argparse.Namespace(executor="ray", workers=2, ray_address=None, threads=1)
    summary = run_on_ray(args, Dies(str(marker), str(starts)), list(range(200)), out, batch_size=5)
    assert not marker.exists(), "the worker was never killed"
    assert len(starts.read_text(encoding="utf-8").split()) >= 3  # 2 workers, and the killed one again
    records = lines_of(out)
    assert Counter(r["index"] for r in records) == Counter(range(200))  # none lost, none twice
    assert all(r["output"] == f"n{r['index']}" for r in records)
    assert (summary.ok, summary.failed, summary.exit_code) == (200, 0, 0)


def test_ctrl_c_keeps_the_finished_lines_and_resume_finishes(
    local_ray: Any, tiny_gpt_neo_dir: Path, tmp_path: Path, run_cli: RunCli
) -> None:
    src = questions(tmp_path / "q.txt", 200)
    out = tmp_path / "answers.jsonl"
    cluster = local_ray.get_runtime_context().gcs_address  # the module's Ray: no second one to start
    proc = subprocess.Popen(
        [sys.executable, "-m", "apps.cli", "run", "json-qa", "--model", f"hf:{tiny_gpt_neo_dir}", "--input", str(src),
         "--output", str(out), "--executor", "ray", "--ray-address", cluster, "--workers", "1", "--concurrency", "1"],
        # The environment as it is now: ray.init put the cluster's credentials in it.
        cwd=ROOT, env={**os.environ, **QUIET}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    stderr = interrupt_after_lines(proc, out, wait=240, then=90)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted: 200 inputs:" in stderr
    text = out.read_text(encoding="utf-8")
    assert text.endswith("\n")
    before = [json.loads(line) for line in text.splitlines()]
    assert 2 <= len(before) < 200 and len({r["index"] for r in before}) == len(before)
    answered = {r["index"] for r in before if "output" in r}
    code, _, err = run_cli("run", "json-qa", "--input", str(src), "--output", str(out), "--resume", "--model", FOUR,
                           "--executor", "ray")
    assert code == 0, err
    assert f"{len(answered)} already done" in err
    after = lines_of(out)
    assert after[: len(before)] == before  # nothing rewritten
    assert Counter(r["index"] for r in after if "output" in r) == Counter(range(200))


def test_json_qa_on_ray_with_a_tiny_model_matches_the_local_runner(
    local_ray: Any, tiny_gpt_neo_dir: Path, tmp_path: Path, run_cli: RunCli
) -> None:
    src = questions(tmp_path / "q.txt", 3)
    answers = {}
    for executor in ("local", "ray"):
        out = tmp_path / f"{executor}.jsonl"
        code, _, err = run_cli("run", "json-qa", "--model", f"hf:{tiny_gpt_neo_dir}", "--input", str(src), "--output",
                               str(out), "--executor", executor, "--workers", "1", "--threads", "1")
        assert code in (0, 1), err
        answers[executor] = {i: r.get("output", r.get("error_type")) for i, r in read_results(out).items()}
    assert sorted(answers["ray"]) == [0, 1, 2]
    assert answers["ray"] == answers["local"]  # greedy decoding: the same answers wherever they are made


AGREE_A = 'fake:{"winner": "A", "reason": "clearer"}|{"winner": "B", "reason": "clearer"}'


def test_judge_on_ray_gives_the_local_tally(local_ray: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    results = {}
    for executor in ("local", "ray"):
        out = tmp_path / f"{executor}.jsonl"
        code, stdout, err = call_cli(capsys, "run", "judge", "--a", "fake:Paris.", "--b", "fake:No idea.", "--judge",
                                     AGREE_A, "--max-concurrency", "1", "--limit", "4", "--out", str(out), "--json",
                                     "--executor", executor)
        assert code == 0, err
        results[executor] = json.loads(stdout)
        assert sorted(read_results(out)) == [0, 1, 2, 3]
    assert results["ray"]["results"] == results["local"]["results"]
    assert (results["ray"]["wins"], results["ray"]["verdicts"]) == (4, 8)


def test_self_instruct_on_ray_keeps_new_tasks_only(
    local_ray: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ocean = {"instruction": "Name three animals that live in the ocean.", "input": "", "output": "Whale."}
    out = tmp_path / "tasks.json"
    spec = "fake:" + json.dumps(ocean)  # every worker writes the same task: one is kept, the rest are too similar
    code, stdout, err = call_cli(capsys, "run", "self-instruct", "--n", "2", "--max-calls", "6", "--out", str(out),
                                 "--max-concurrency", "2", "--json", "--model", spec, "--executor", "ray")
    assert code == 0, err
    summary = json.loads(stdout)
    assert json.loads(out.read_text(encoding="utf-8")) == [ocean]
    assert (summary["new"], summary["calls"], summary["rejected"]["too similar"]) == (1, 6, 5)


def test_executor_options_are_checked_in_one_line(run_cli: RunCli, tmp_path: Path) -> None:
    src = questions(tmp_path / "q.txt", 2)
    code, _, err = run_cli("run", "json-qa", "--input", str(src), "--model", FOUR, "--executor", "ray", "--workers",
                           "0")
    assert code == 1 and "--workers must be >= 1" in err
    code, _, err = run_cli("run", "json-qa", "--input", str(src), "--model", FOUR, "--executor", "ray", "--replay",
                           str(tmp_path / "c.jsonl"))
    assert code == 1 and "--replay: only with --executor local" in err
    code, _, err = run_cli("run", "judge", "--a", "fake:x", "--b", "fake:y", "--executor", "spark")
    assert code == 2 and "invalid choice: 'spark'" in err

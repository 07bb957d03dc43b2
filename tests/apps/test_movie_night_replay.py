"""Movie night's logic on a cassette recorded once on the embedded model (English and Korean): no weights loaded.

The cassette (tests/data/movie_night.jsonl) and the answers printed then (tests/data/movie_night_expected.json) were
made with `recipes run movie-night --json --record tests/data/movie_night.jsonl ANSWER` on the embedded
SmolLM2-135M-Instruct (onnxruntime int4). Re-record them when a prompt, schema or option of movie night changes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TAPE = ROOT / "tests" / "data" / "movie_night.jsonl"
EXPECTED = ROOT / "tests" / "data" / "movie_night_expected.json"

# Replays every recorded answer in one process whose model loaders all fail, then says which heavy modules loaded.
SCRIPT = """
import contextlib, io, json, sys
import llms.engines.select as select, llms.registry as registry

def no_weights(*args, **kwargs):
    raise AssertionError("a model was loaded")

select.load_engine = registry.load_model = registry.load_llm = no_weights
from apps.cli import main

results = []
for answer in json.loads(sys.argv[1]):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["run", "movie-night", "--json", "--replay", sys.argv[2], answer])
    results.append({"code": code, "out": json.loads(out.getvalue()) if code == 0 else None})
heavy = [m for m in ("torch", "transformers", "onnxruntime", "onnxruntime_genai") if m in sys.modules]
print(json.dumps({"results": results, "heavy": heavy}))
"""


def _replay(answers: list[str]) -> tuple[dict, str]:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(answers), str(TAPE)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def test_replayed_movie_night_gives_the_recorded_recommendations_with_no_model_loaded() -> None:
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    assert {e["lang"] for e in expected} == {"en", "ko"}
    report, _ = _replay([e["answer"] for e in expected] + ["I only watch westerns"])
    *replayed, missing = report["results"]
    assert [r["code"] for r in replayed] == [0] * len(expected)
    assert [r["out"] for r in replayed] == expected
    assert report["heavy"] == []  # no torch, transformers or onnxruntime imported: no weights
    assert missing["code"] == 1  # an answer never recorded: one error line, below


def test_a_request_not_on_the_cassette_is_one_line_naming_the_step() -> None:
    _, stderr = _replay(["I only watch westerns"])
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "step movie_night/picks" in lines[0] and "Western" in lines[0]

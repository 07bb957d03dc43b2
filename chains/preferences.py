"""Preference data, InstructGPT's comparisons: judge verdicts as (prompt, chosen, rejected) rows, ties skipped,
in the format TRL's `DPOTrainer` reads; and the Alpaca prompt every training step renders a task with.

>>> record = {"instruction": "Name a fruit.", "answer_a": "Apple.", "answer_b": "A car.", "winner": "A"}
>>> row = preference_rows([record, {**record, "winner": "tie"}])[0]
>>> row["chosen"], row["rejected"], row["prompt"].splitlines()[-1]
('Apple.', 'A car.', '### Response:')
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chains.language import detect_language
from core.errors import RecipesError

__all__ = [
    "PreferenceFileError",
    "PreferencePair",
    "alpaca_prompt",
    "load_preferences",
    "preference_rows",
    "write_preferences",
]


class PreferenceFileError(RecipesError, ValueError):
    """A preference file that is missing, unreadable, or has a row without prompt / chosen / rejected text."""


class PreferencePair(BaseModel):
    """One comparison: the prompt, the answer the judge preferred, and the one it did not."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    prompt: str = Field(min_length=1)
    chosen: str = Field(min_length=1)
    rejected: str = Field(min_length=1)


def alpaca_prompt(instruction: str, input: str = "", lang: str | None = None) -> str:
    """Alpaca's prompt for a task, in its language (the judge asks with it; finetune and dpo train on it)."""
    from prompts import get

    code, extra = lang or detect_language(instruction), input.strip()
    if extra:
        return str(get("alpaca_instruction_input", lang=code).format(instruction=instruction.strip(), input=extra))
    return str(get("alpaca_instruction", lang=code).format(instruction=instruction.strip()))


def preference_rows(records: Iterable[Mapping[str, Any]], lang: str | None = None) -> list[dict[str, str]]:
    """Judge records (``instruction``, ``input``?, ``answer_a``, ``answer_b``, ``winner``) as preference rows;
    a tie, an empty answer or two equal answers teaches no preference and is skipped."""
    rows = []
    for record in records:
        winner = record.get("winner")
        a, b = str(record.get("answer_a") or "").strip(), str(record.get("answer_b") or "").strip()
        if winner not in ("A", "B") or not a or not b or a == b:
            continue
        chosen, rejected = (a, b) if winner == "A" else (b, a)
        instruction, extra = str(record["instruction"]), str(record.get("input") or "")
        rows.append({"prompt": alpaca_prompt(instruction, extra, lang), "chosen": chosen, "rejected": rejected,
                     "instruction": instruction, "input": extra})
    return rows


def write_preferences(path: str | Path, records: Iterable[Mapping[str, Any]], lang: str | None = None) -> int:
    """Write the preference rows of `records` as JSON lines (UTF-8, Hangul as is); returns how many."""
    path = Path(path)
    rows = preference_rows(records, lang)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("w", encoding="utf-8") as out:
            out.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        os.replace(tmp, path)  # a crash mid-write never leaves half a file in place of a good one
    except OSError as err:
        raise PreferenceFileError(f"cannot write preferences to {path}: {err.strerror}") from None
    return len(rows)


def load_preferences(path: str | Path) -> list[PreferencePair]:
    """Rows of a ``.jsonl`` (or ``.json`` list) file with ``prompt``, ``chosen``, ``rejected`` text."""
    from chains.files import read_user_text

    path = Path(path)
    text = read_user_text(path, PreferenceFileError, "preference file")
    try:
        if path.suffix.lower() == ".json":
            rows = json.loads(text)
        else:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    except (json.JSONDecodeError, RecursionError) as err:
        raise PreferenceFileError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(rows, list):
        raise PreferenceFileError(f"{path}: expected JSON lines or a JSON list of {{prompt, chosen, rejected}}")
    pairs = []
    for i, row in enumerate(rows, 1):
        try:
            pairs.append(PreferencePair.model_validate(row))
        except ValidationError as err:
            bad = ", ".join(".".join(map(str, e["loc"])) or "(row)" for e in err.errors())
            raise PreferenceFileError(f"{path} row {i}: not a {{prompt, chosen, rejected}} pair (bad: {bad})") from None
    if not pairs:
        raise PreferenceFileError(f"{path}: no preference pairs")
    return pairs

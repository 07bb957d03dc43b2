"""Cassettes: a run's model calls as JSON lines (request key -> answer), written by `Recorder` (`llms.recorder`),
read here (`Cassette`) for `llms.replay`; this module is the one import for keys, recording and reading.

A request key (`llms.request_keys`) is the hash of the rendered messages (or prompt), the stop strings and the
call's generation options (max_new_tokens, temperature, the JSON-schema grammar, response_format, ...), without the
model's name, engine, device or dtype: the same chain asks the same thing again whatever runs it, so replay answers
by key, not by order.

File format (one JSON object a line; a file may hold several runs: `Recorder` appends)::

    {"type": "model", "spec": "local", "capabilities": {...}, "defaults": {...}, "recorded_at": ...}
    {"type": "call", "key": "3f2a...", "step": "movie_night/genres", "request": {...}, "response": {...}}

>>> request_key([("human", "hi")], None, {}) == request_key([("human", "hi")], [], {"seed": None})
True
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from llms.errors import RecipesError
from llms.recorder import Recorder, StepNames, active_recorder, active_steps, is_plumbing, recording
from llms.request_keys import SPEC_KEY, model_defaults, request, request_key, tag_model

__all__ = [
    "SPEC_KEY", "Cassette", "CassetteError", "Recorder", "StepNames", "active_recorder", "active_steps",
    "is_plumbing", "model_defaults", "recording", "request", "request_key", "tag_model",
]


class CassetteError(RecipesError, ValueError):
    """A cassette file that cannot be read (names the file and line)."""


@dataclasses.dataclass
class Cassette:
    """A cassette file read back: answers by key (the last recording of a key wins) and the models recorded."""

    path: Path
    calls: dict[str, dict[str, Any]]
    models: list[dict[str, Any]]

    @classmethod
    def load(cls, path: str | Path) -> Cassette:
        path = Path(path)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as err:
            raise CassetteError(f"cannot read cassette {path}: {err.strerror or err}") from None
        calls: dict[str, dict[str, Any]] = {}
        models: list[dict[str, Any]] = []
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                kind = obj["type"]
                if kind == "call":
                    calls[str(obj["key"])] = obj
                elif kind == "model":
                    models.append(obj)
            except (ValueError, KeyError, TypeError) as err:
                raise CassetteError(f"{path}:{n}: not a cassette line ({type(err).__name__}: {err})") from None
        return cls(path, calls, models)

    def model(self, spec: str | None = None) -> dict[str, Any]:
        """The recorded model for `spec` (else the first one recorded; ``{}`` when none was)."""
        for entry in self.models:
            if spec is not None and entry.get("spec") == spec:
                return entry
        return self.models[0] if self.models else {}

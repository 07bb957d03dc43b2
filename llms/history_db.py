"""The run-history database: one row per run, one per step or model call (schema version 1).

Default file: ``$RECIPES_HOME/runs.db`` (``~/.local/share/chain-recipes/runs.db``). Written by `llms.history.RunLog`,
read by ``recipes logs``.

>>> import tempfile, pathlib
>>> db = HistoryDB(pathlib.Path(tempfile.mkdtemp()) / "runs.db")
>>> db.start_run("r1", app="demo", args={"q": "2+2?"}, started=1.0)
>>> _ = db.add_step("r1", {"kind": "chain", "name": "step", "started": 1.0, "ended": 2.0, "latency_s": 1.0})
>>> db.end_run("r1", ended=2.0, status="ok")
>>> [r["app"] for r in db.list_runs()], [s["name"] for s in db.get_run("r1")["steps"]]
(['demo'], ['step'])
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from llms.sqlite_store import Store, data_dir

__all__ = ["SCHEMA_VERSION", "STEP_COLUMNS", "HistoryDB", "default_history_path"]

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    app TEXT NOT NULL,
    args TEXT,
    models TEXT,
    started REAL NOT NULL,
    ended REAL,
    status TEXT NOT NULL DEFAULT 'running',
    exit_code INTEGER,
    error_type TEXT,
    error_message TEXT
);
CREATE INDEX IF NOT EXISTS runs_started ON runs (started);
CREATE INDEX IF NOT EXISTS runs_app ON runs (app, started);
CREATE TABLE IF NOT EXISTS steps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    lc_id TEXT,
    parent_lc_id TEXT,
    kind TEXT NOT NULL,
    name TEXT,
    started REAL,
    ended REAL,
    latency_s REAL,
    inputs TEXT,
    messages TEXT,
    raw_output TEXT,
    parsed_output TEXT,
    error_type TEXT,
    error_message TEXT,
    finish_reason TEXT,
    input_tokens INTEGER,
    output_tokens INTEGER,
    total_tokens INTEGER,
    spec TEXT,
    model_name TEXT,
    engine TEXT,
    options TEXT,
    cache_hit INTEGER
);
CREATE INDEX IF NOT EXISTS steps_run ON steps (run_id, started)
"""
# Columns of `steps` a writer may set (JSON-valued ones are stored as JSON text).
STEP_COLUMNS = (
    "lc_id", "parent_lc_id", "kind", "name", "started", "ended", "latency_s", "inputs", "messages", "raw_output",
    "parsed_output", "error_type", "error_message", "finish_reason", "input_tokens", "output_tokens",
    "total_tokens", "spec", "model_name", "engine", "options", "cache_hit",
)
_JSON_COLUMNS = {"args", "models", "inputs", "messages", "parsed_output", "options"}


def default_history_path() -> Path:
    return data_dir() / "runs.db"


def _dump(value: Any) -> str | None:
    return None if value is None else value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _load(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _row(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    for key in _JSON_COLUMNS & set(out):
        out[key] = _load(out[key])
    if "cache_hit" in out and out["cache_hit"] is not None:
        out["cache_hit"] = bool(out["cache_hit"])
    return out


class HistoryDB:
    """Reads and writes the history at `path` (default `default_history_path()`); safe across threads and
    processes. Values in JSON columns are passed as Python values, or as JSON text already dumped."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_history_path()
        self.store = Store(self.path, SCHEMA, version=SCHEMA_VERSION)

    # -- writing ------------------------------------------------------------------------------------------------
    def start_run(self, run_id: str, *, app: str, args: Any = None, started: float | None = None) -> None:
        started = time.time() if started is None else started
        self.store.write(
            lambda db: db.execute(
                "INSERT OR IGNORE INTO runs (id, app, args, started) VALUES (?, ?, ?, ?)",
                (run_id, app, _dump(args), started),
            )
        )

    def set_models(self, run_id: str, models: Any) -> None:
        self.store.write(lambda db: db.execute("UPDATE runs SET models = ? WHERE id = ?", (_dump(models), run_id)))

    def end_run(
        self,
        run_id: str,
        *,
        ended: float | None = None,
        status: str = "ok",
        exit_code: int | None = None,
        error: tuple[str, str] | None = None,
    ) -> None:
        ended = time.time() if ended is None else ended
        etype, emsg = error or (None, None)
        self.store.write(
            lambda db: db.execute(
                "UPDATE runs SET ended = ?, status = ?, exit_code = ?, error_type = ?, error_message = ? WHERE id = ?",
                (ended, status, exit_code, etype, emsg, run_id),
            )
        )

    def add_step(self, run_id: str, step: dict[str, Any]) -> int:
        """Insert one step (keys from `STEP_COLUMNS`); returns its row id."""
        return self.add_steps(run_id, [step])[0]

    def add_steps(self, run_id: str, steps: list[dict[str, Any]]) -> list[int]:
        """Insert several steps in one transaction; returns their row ids."""

        def insert(db: sqlite3.Connection) -> list[int]:
            ids = []
            for step in steps:
                cols = [c for c in STEP_COLUMNS if c in step]
                values = [_dump(step[c]) if c in _JSON_COLUMNS else step[c] for c in cols]
                sql = f"INSERT INTO steps (run_id, {', '.join(cols)}) VALUES (?{', ?' * len(cols)})"
                ids.append(int(db.execute(sql, (run_id, *values)).lastrowid or 0))
            return ids

        return self.store.write(insert) if steps else []

    def update_step(self, step_id: int, fields: dict[str, Any]) -> None:
        cols = [c for c in STEP_COLUMNS if c in fields]
        if not cols:
            return
        values = [_dump(fields[c]) if c in _JSON_COLUMNS else fields[c] for c in cols]
        sql = f"UPDATE steps SET {', '.join(f'{c} = ?' for c in cols)} WHERE id = ?"
        self.store.write(lambda db: db.execute(sql, (*values, step_id)))

    def prune(self, older_than_s: float, now: float | None = None) -> int:
        """Delete runs started more than `older_than_s` seconds ago (and their steps); returns how many."""
        cutoff = (time.time() if now is None else now) - older_than_s

        def delete(db: sqlite3.Connection) -> int:
            db.execute("DELETE FROM steps WHERE run_id IN (SELECT id FROM runs WHERE started < ?)", (cutoff,))
            return int(db.execute("DELETE FROM runs WHERE started < ?", (cutoff,)).rowcount)

        return self.store.write(delete)

    # -- reading ------------------------------------------------------------------------------------------------
    def list_runs(self, limit: int = 20, app: str | None = None) -> list[dict[str, Any]]:
        """The latest runs first, each with its step and model-call counts, tokens, model time and cache hits."""
        where, params = ("WHERE r.app = ?", [app]) if app else ("", [])
        rows = self.store.read(
            f"""SELECT r.*,
                   COUNT(s.id) AS n_steps,
                   COALESCE(SUM(s.kind != 'chain'), 0) AS n_calls,
                   COALESCE(SUM(CASE WHEN s.kind != 'chain' THEN s.latency_s END), 0) AS model_s,
                   COALESCE(SUM(s.total_tokens), 0) AS tokens,
                   COALESCE(SUM(s.cache_hit), 0) AS cache_hits
                FROM runs r LEFT JOIN steps s ON s.run_id = r.id {where}
                GROUP BY r.id ORDER BY r.started DESC, r.rowid DESC LIMIT ?""",
            [*params, limit],
        )
        return [_row(r) for r in rows]

    def find_run(self, ref: str) -> str | None:
        """A run id from a full id, a unique prefix, or ``last`` / ``-1`` (latest), ``-2`` (the one before)."""
        if ref in ("last", "latest") or (ref.startswith("-") and ref[1:].isdigit()):
            back = 1 if not ref.startswith("-") else int(ref[1:])
            rows = self.store.read("SELECT id FROM runs ORDER BY started DESC, rowid DESC LIMIT 1 OFFSET ?", [back - 1])
            return str(rows[0]["id"]) if rows else None
        rows = self.store.read("SELECT id FROM runs WHERE id LIKE ? ORDER BY started DESC LIMIT 2", [ref + "%"])
        return str(rows[0]["id"]) if len(rows) == 1 or (rows and rows[0]["id"] == ref) else None

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """One run with all its steps (in the order they started)."""
        runs = self.store.read("SELECT * FROM runs WHERE id = ?", [run_id])
        if not runs:
            return None
        steps = self.store.read("SELECT * FROM steps WHERE run_id = ? ORDER BY started, id", [run_id])
        return {**_row(runs[0]), "steps": [_row(s) for s in steps]}

    def count(self, table: str) -> int:
        if table not in ("runs", "steps"):
            raise ValueError(table)
        return int(self.store.read(f"SELECT COUNT(*) AS n FROM {table}")[0]["n"])

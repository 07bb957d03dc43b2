"""Fall back to another model (default: the embedded local one) when an OpenAI-compatible server is unreachable.

>>> from llms import load_model
>>> model = with_fallback(load_model("openai:m", base_url="http://127.0.0.1:9/v1"), "fake:local answer")
>>> model.invoke("hi").content  # doctest: +SKIP
'local answer'
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig, RunnableSerializable
from pydantic import ConfigDict, PrivateAttr

from llms.capabilities import capabilities_of
from llms.openai_errors import BackendUnreachableError

__all__ = ["FALLBACK_ERRORS", "FallbackModel", "with_fallback"]

# Connection refused, unknown host, connect timeout (a subclass): the server is not there. A read timeout or
# an HTTP error means the server is there, so those stay errors rather than silently changing models.
FALLBACK_ERRORS: tuple[type[BaseException], ...] = (BackendUnreachableError,)


def _url_of(model: Any) -> str | None:
    """The primary's base URL for the notice, as the model reports it (through `.bind(...)` wrappers)."""
    return capabilities_of(model).url


class FallbackModel(RunnableSerializable[LanguageModelInput, BaseMessage]):
    """`primary` until it is unreachable once, then `fallback_spec` (loaded then) for this and every later call.

    Sticky on purpose: each call to a dead server costs the SDK's retries (~1.5 s), so a 1000-item batch would
    otherwise spend minutes rediscovering it. A stream falls back only if it fails before its first chunk.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    primary: Runnable[Any, Any]
    fallback_spec: str = "local"
    notify: Callable[[str], None] | None = None
    _fallback: Runnable[Any, Any] | None = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def switched(self) -> bool:
        """Whether calls now go to the fallback."""
        return self._fallback is not None

    def _switch(self, error: BaseException) -> Runnable[Any, Any]:
        with self._lock:  # batch threads may all fail at once: load and notify once
            if self._fallback is None:
                from llms.registry import load_model

                fallback = load_model(self.fallback_spec)
                url = _url_of(self.primary) or getattr(error, "url", None) or "(unknown URL)"
                if self.notify is not None:
                    self.notify(f"openai server at {url} unreachable; falling back to {self.fallback_spec}")
                self._fallback = fallback
            return self._fallback

    def invoke(self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any) -> BaseMessage:
        if self._fallback is not None:
            return self._fallback.invoke(input, config, **kwargs)  # type: ignore[no-any-return]
        try:
            return self.primary.invoke(input, config, **kwargs)  # type: ignore[no-any-return]
        except FALLBACK_ERRORS as err:
            return self._switch(err).invoke(input, config, **kwargs)  # type: ignore[no-any-return]

    async def ainvoke(
        self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> BaseMessage:
        if self._fallback is not None:
            return await self._fallback.ainvoke(input, config, **kwargs)  # type: ignore[no-any-return]
        try:
            return await self.primary.ainvoke(input, config, **kwargs)  # type: ignore[no-any-return]
        except FALLBACK_ERRORS as err:
            fallback = await asyncio.to_thread(self._switch, err)  # loading a local model blocks
            return await fallback.ainvoke(input, config, **kwargs)  # type: ignore[no-any-return]

    def stream(
        self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[BaseMessage]:
        if self._fallback is not None:
            yield from self._fallback.stream(input, config, **kwargs)
            return
        chunks = self.primary.stream(input, config, **kwargs)
        try:
            first = next(chunks)
        except StopIteration:
            return
        except FALLBACK_ERRORS as err:
            yield from self._switch(err).stream(input, config, **kwargs)
            return
        yield first
        yield from chunks

    async def astream(
        self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[BaseMessage]:
        if self._fallback is None:
            chunks = self.primary.astream(input, config, **kwargs)
            try:
                first = await anext(chunks)
            except StopAsyncIteration:
                return
            except FALLBACK_ERRORS as err:
                await asyncio.to_thread(self._switch, err)
            else:
                yield first
                async for chunk in chunks:
                    yield chunk
                return
        assert self._fallback is not None
        async for chunk in self._fallback.astream(input, config, **kwargs):
            yield chunk


def with_fallback(
    primary: Runnable[Any, Any], fallback_spec: str = "local", notify: Callable[[str], None] | None = None
) -> FallbackModel:
    """`primary`, switching to ``load_model(fallback_spec)`` (loaded only then) once its server is unreachable;
    `notify` gets one line, once: "openai server at URL unreachable; falling back to SPEC"."""
    from llms.registry import parse_spec

    parse_spec(fallback_spec)  # a typo fails now, not at the moment the server goes away
    return FallbackModel(primary=primary, fallback_spec=fallback_spec, notify=notify)

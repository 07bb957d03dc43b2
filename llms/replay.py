"""Replay models: answer from a cassette (`llms.cassette`) by request key, with no model loaded.

Spec ``replay:<file>`` (``load_model("replay:tests/data/movie_night.jsonl")``), or ``--replay FILE`` on any app. The
model says it can do what the recorded one could (grammar decoding, JSON mode, its token-limit option), so a chain
built on it asks exactly the recorded requests; a request not in the cassette is one line naming the step and the
request (`ReplayMissError`).

>>> import json, tempfile
>>> from llms.request_keys import request_key
>>> path = tempfile.mktemp(suffix=".jsonl")
>>> key = request_key([("human", "hi")], None, {})
>>> _ = open(path, "w").write(json.dumps({"type": "call", "key": key, "step": "", "request": {},
...     "response": {"type": "chat", "content": "hello", "response_metadata": {"finish_reason": "stop"}}}) + "\\n")
>>> ReplayChatModel.from_file(path).invoke("hi").content
'hello'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

from langchain_core.language_models import BaseChatModel, BaseLLM
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult, Generation, LLMResult
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from llms.capabilities import ModelCapabilities
from llms.cassette import Cassette
from llms.errors import RecipesError
from llms.recorder import active_steps
from llms.request_keys import request, request_key
from llms.signatures import Messages, Run, Stop
from llms.structured_mixin import StructuredByCapabilities

__all__ = ["ReplayChatModel", "ReplayLLM", "ReplayMissError"]


class ReplayMissError(RecipesError, LookupError):
    """A request the cassette has no answer for."""


def _caps(entry: dict[str, Any]) -> ModelCapabilities:
    known = set(ModelCapabilities.__dataclass_fields__)
    given = {k: v for k, v in (entry.get("capabilities") or {}).items() if k in known}
    return ModelCapabilities(**{"backend": "replay", **given})


class _Replay(BaseModel):
    """What both replay classes share: the cassette, the recorded model's capabilities and defaults, lookup
    (a pydantic mixin: its fields become both classes' fields)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    path: str
    spec: str | None = None
    defaults: dict[str, Any] = Field(default_factory=dict)
    _cassette: Cassette | None = PrivateAttr(default=None)

    @classmethod
    def from_file(cls, path: str | Path, spec: str | None = None) -> Self:
        tape = Cassette.load(path)  # a bad file fails here, before any chain runs
        model = cls(path=str(path), spec=spec, defaults=_defaults(tape.model(spec)))
        model._cassette = tape
        return model

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"cassette": self.path}

    def _tape(self) -> Cassette:
        if self._cassette is None:
            self._cassette = Cassette.load(self.path)
        return self._cassette

    @property
    def capabilities(self) -> ModelCapabilities:
        return _caps(self._tape().model(self.spec))

    def _recorded(
        self, rendered: Any, stop: list[str] | None, kwargs: dict[str, Any], run_manager: Any
    ) -> tuple[Any, dict[str, Any], Any]:
        """The recorded answer as (content, metadata marked ``replayed``, usage), whichever kind of model made it."""
        options = {**self.defaults, **kwargs}
        tape = self._tape()
        # Calls are keyed by the recorded model's spec when it had one (the CLI tags every model it loads): ours,
        # or the first recorded model's when ours was not recorded.
        model = tape.model(self.spec).get("spec")
        key = request_key(rendered, stop, options, model)
        entry = tape.calls.get(key)
        if entry is None:
            raise ReplayMissError(self._miss(key, request(rendered, stop, options, model), run_manager))
        answer = entry["response"]
        chat = answer.get("type") != "text"
        content = answer.get("content", "") if chat else answer.get("text", "")
        meta = (answer.get("response_metadata") if chat else answer.get("generation_info")) or {}
        return content, {**meta, "replayed": True}, answer.get("usage_metadata")

    def _miss(self, key: str, asked: dict[str, Any], run_manager: Any) -> str:
        steps = active_steps()
        parent = getattr(run_manager, "parent_run_id", None)
        step = steps.step(parent) if steps is not None else "(unknown step)"
        last = asked["messages"][-1] if asked["messages"] else {"role": "?", "content": ""}
        text = " ".join(str(last["content"]).split())
        snippet = text if len(text) <= 110 else f"{text[:60]} ... {text[-45:]}"  # the input is at one end or other
        opts = ", ".join(sorted(asked["options"])) or "none"
        return (
            f"replay: no recorded answer for step {step}, request {key[:12]} "
            f"({len(asked['messages'])} message(s), last {last['role']}: {snippet!r}; options: {opts}; "
            f"stop: {asked['stop']}{'; model: ' + asked['model'] if asked.get('model') else ''}) in {self.path}"
        )


def _defaults(entry: dict[str, Any]) -> dict[str, Any]:
    return dict(entry.get("defaults") or {})


class ReplayChatModel(_Replay, StructuredByCapabilities, BaseChatModel):  # type: ignore[misc]
    """A chat model answering from a cassette by request key (`from_file(path, spec=...)`)."""

    @property
    def _llm_type(self) -> str:
        return "recipes-replay-chat"

    def _generate(self, messages: Messages, stop: Stop = None, run_manager: Run = None, **kwargs: Any) -> ChatResult:
        content, meta, usage = self._recorded(messages, stop, kwargs, run_manager)
        message = AIMessage(content=content, response_metadata=meta, usage_metadata=usage)
        return ChatResult(generations=[ChatGeneration(message=message)])


class ReplayLLM(_Replay, BaseLLM):  # type: ignore[misc]
    """The text-completion twin of `ReplayChatModel`, for the classic LLMChain path."""

    @property
    def _llm_type(self) -> str:
        return "recipes-replay-llm"

    def _generate(self, prompts: list[str], stop: Stop = None, run_manager: Run = None, **kwargs: Any) -> LLMResult:
        # LangChain reports no per-call options for text LLMs at record time: keys hold the prompt, stop, defaults.
        generations = []
        for prompt in prompts:
            text, info, _ = self._recorded(prompt, stop, {}, run_manager)
            generations.append([Generation(text=str(text), generation_info=info)])
        return LLMResult(generations=generations)

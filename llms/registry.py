"""Turn one spec string into a LangChain model: ``local``, ``hf:<id or dir>``, ``openai:<model>``, ``fake:...``.

>>> from llms import load_model
>>> load_model("fake:hi").invoke("hello").content
'hi'
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel, BaseLLM

from llms.errors import UnknownModelSpecError
from llms.options import ModelOptions

__all__ = ["DEFAULT_SPEC", "ModelSpec", "SpecInfo", "describe_specs", "load_llm", "load_model", "parse_spec"]

DEFAULT_SPEC = "local"
PROVIDERS = ("local", "hf", "openai", "fake")


@dataclass(frozen=True)
class ModelSpec:
    """A parsed spec: the provider and the provider's own model name (empty for ``local``)."""

    provider: str
    name: str

    def __str__(self) -> str:
        return self.provider if not self.name else f"{self.provider}:{self.name}"


def parse_spec(spec: str) -> ModelSpec:
    """Split ``provider:name``; ``local`` stands alone.

    >>> parse_spec("hf:EleutherAI/gpt-neo-125m")
    ModelSpec(provider='hf', name='EleutherAI/gpt-neo-125m')
    """
    spec = spec.strip()
    provider, _, name = spec.partition(":")
    if provider == "local" and not name:
        return ModelSpec("local", "")
    if provider in PROVIDERS and provider != "local" and name:
        return ModelSpec(provider, name)
    raise UnknownModelSpecError(
        f"unknown model spec {spec!r}: use 'local', 'hf:<hub id or directory>', 'openai:<model>' or 'fake:<text>'"
    )


def _fake_responses(name: str) -> list[str]:
    return [] if name == "echo" else name.split("|")


def load_model(spec: str = DEFAULT_SPEC, **options: Any) -> BaseChatModel:
    """A chat model for `spec`; options: temperature, max_new_tokens, stop, seed, threads, repetition_penalty,
    and for OpenAI-compatible servers base_url, api_key, timeout, max_retries."""
    parsed, opts = parse_spec(spec), ModelOptions.from_kwargs(**options)
    if parsed.provider == "fake":
        from llms.fake import FakeChatModel

        return FakeChatModel(responses=_fake_responses(parsed.name), stop_sequences=list(opts.stop))
    if parsed.provider == "openai":
        from llms.openai_backend import openai_chat

        return openai_chat(parsed.name, opts)
    from llms.huggingface import local_chat_model

    return local_chat_model(parsed, opts)


def load_llm(spec: str = DEFAULT_SPEC, **options: Any) -> BaseLLM:
    """A text-completion LLM for `spec`, for the classic `LLMChain` path (same options as `load_model`)."""
    parsed, opts = parse_spec(spec), ModelOptions.from_kwargs(**options)
    if parsed.provider == "fake":
        from llms.fake import FakeLLM

        return FakeLLM(responses=_fake_responses(parsed.name))
    if parsed.provider == "openai":
        from llms.openai_backend import openai_llm

        return openai_llm(parsed.name, opts)
    from llms.huggingface import local_llm

    return local_llm(parsed, opts)


@dataclass(frozen=True)
class SpecInfo:
    """One row of `recipes models`: a spec, what it is, and whether it can run offline right now."""

    spec: str
    description: str
    offline_ready: bool
    detail: str


def describe_specs() -> list[SpecInfo]:
    """The specs this install knows, and which run offline now (cheap: loads no model)."""
    from llms.embedded import embedded_status

    status = embedded_status()
    base_url = os.environ.get("OPENAI_BASE_URL")
    return [
        SpecInfo("local", "embedded SmolLM2-135M-Instruct (default)", status.ready, status.detail),
        SpecInfo(
            "hf:<hub id or dir>",
            "any Hugging Face causal LM, e.g. hf:EleutherAI/gpt-neo-125m",
            True,
            "offline for local directories and models already in the Hugging Face cache",
        ),
        SpecInfo(
            "openai:<model>",
            "OpenAI or any OpenAI-compatible server (--base-url / OPENAI_BASE_URL)",
            False,
            f"needs a server: {base_url or 'api.openai.com'}; key from OPENAI_API_KEY",
        ),
        SpecInfo("fake:echo | fake:a|b", "deterministic fake for tests", True, "always offline"),
    ]

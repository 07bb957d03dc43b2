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
from llms.spec import DEFAULT_SPEC, PROVIDERS, ModelSpec, parse_spec

__all__ = ["DEFAULT_SPEC", "ModelSpec", "SpecInfo", "describe_specs", "load_llm", "load_model", "parse_spec"]

def _fake_responses(name: str) -> list[str]:
    return [] if name == "echo" else name.split("|")


def load_model(spec: str = DEFAULT_SPEC, **options: Any) -> BaseChatModel:
    """A chat model for `spec`. Options (each backend refuses the ones it does not take, by name):
    temperature, max_new_tokens, stop, seed, top_p; local: threads, repetition_penalty, device, dtype, device_map,
    engine; openai: base_url, api_key, timeout, max_retries."""
    parsed = parse_spec(spec)
    if parsed.provider == "replay":  # replay:<cassette> answers recorded calls (llms.replay); options do not apply
        from llms.replay import ReplayChatModel

        return ReplayChatModel.from_file(parsed.name)
    opts = ModelOptions.for_backend(parsed.provider, **options)
    if parsed.provider not in PROVIDERS:
        from llms.providers import provider_chat

        given = {k: v for k, v in options.items() if v is not None}
        return provider_chat(parsed.provider, parsed.name, given)  # type: ignore[no-any-return]
    if parsed.provider == "fake":
        from llms.fake import FakeChatModel

        return FakeChatModel(responses=_fake_responses(parsed.name), stop_sequences=list(opts.stop))
    if parsed.provider == "openai":
        from llms.openai_backend import openai_chat

        return openai_chat(parsed.name, opts)
    from llms.engines.select import load_engine
    from llms.local import LocalChatModel

    return LocalChatModel(engine=load_engine(parsed, opts), model=_local_name(parsed), **_local_defaults(opts))


def load_llm(spec: str = DEFAULT_SPEC, **options: Any) -> BaseLLM:
    """A text-completion LLM for `spec`, for the classic `LLMChain` path (same options as `load_model`)."""
    parsed = parse_spec(spec)
    if parsed.provider == "replay":
        from llms.replay import ReplayLLM

        return ReplayLLM.from_file(parsed.name)
    if parsed.provider not in PROVIDERS:
        raise UnknownModelSpecError(
            f"{spec!r}: LangChain providers give chat models only; use load_model, or --classic with local/hf/openai"
        )
    opts = ModelOptions.for_backend(parsed.provider, **options)
    if parsed.provider == "fake":
        from llms.fake import FakeLLM

        return FakeLLM(responses=_fake_responses(parsed.name))
    if parsed.provider == "openai":
        from llms.openai_backend import openai_llm

        return openai_llm(parsed.name, opts)
    from llms.engines.select import load_engine
    from llms.local import LocalLLM

    # The embedded model is an instruct model: a raw prompt gets an empty answer unless wrapped as a user turn.
    return LocalLLM(
        engine=load_engine(parsed, opts),
        model=_local_name(parsed),
        wrap_in_chat_template=parsed.provider == "local",
        **_local_defaults(opts),
    )


def _local_name(spec: ModelSpec) -> str:
    from llms.embedded import EMBEDDED_NAME

    return EMBEDDED_NAME if spec.provider == "local" else spec.name


def _local_defaults(opts: ModelOptions) -> dict[str, Any]:
    return {
        "max_new_tokens": opts.max_new_tokens,
        "temperature": opts.temperature,
        "top_p": opts.top_p,
        "seed": opts.seed,
        "repetition_penalty": opts.repetition_penalty,
        "stop": list(opts.stop) or None,
    }


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
    from llms.engines.select import local_engine_detail

    status = embedded_status()
    base_url = os.environ.get("OPENAI_BASE_URL")
    return [
        SpecInfo("local", "embedded SmolLM2-135M-Instruct (default)", status.ready,
                 f"{status.detail}; {local_engine_detail()}"),
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
        _providers_row(),
    ]


def _providers_row() -> SpecInfo:
    from llms.providers import providers

    known = providers().values()
    installed = sorted(p.name for p in known if p.installed)
    missing = sorted((p for p in known if not p.installed), key=lambda p: p.name)
    hint = f"; {len(missing)} others need their package, e.g. {missing[0].install_command}" if missing else ""
    return SpecInfo(
        "<provider>:<model>",
        "any LangChain provider via init_chat_model, e.g. ollama:llama3.1",
        False,
        f"installed: {', '.join(installed) or 'none'}{hint}",
    )

"""Every other provider LangChain knows, as a model spec: ``ollama:llama3.1``, ``anthropic:…``, ``groq:…``.

Specs whose provider is not one of ours (``local``, ``hf``, ``openai``, ``fake``) go to LangChain's
`init_chat_model`; our option names are mapped to the provider class's own (``max_new_tokens`` -> ``max_tokens`` or
``num_predict``) and an option the class has no field for is refused by name.

>>> option_fields("max_new_tokens")
('max_tokens', 'num_predict', 'max_output_tokens', 'max_new_tokens')
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import Any

from llms.errors import ModelNotAvailableError, OptionNotSupportedError, UnknownModelSpecError

__all__ = ["ProviderInfo", "option_fields", "provider_chat", "providers"]

# Our option -> the field names provider classes use for it, in order of preference.
_FIELDS: dict[str, tuple[str, ...]] = {
    "max_new_tokens": ("max_tokens", "num_predict", "max_output_tokens", "max_new_tokens"),
    "temperature": ("temperature",),
    "top_p": ("top_p",),
    "stop": ("stop", "stop_sequences"),
    "seed": ("seed", "random_seed"),
    "base_url": ("base_url", "api_base", "endpoint_url"),
    "api_key": ("api_key",),
    "timeout": ("timeout", "request_timeout", "default_request_timeout"),
    "max_retries": ("max_retries",),
}


def option_fields(option: str) -> tuple[str, ...]:
    """The provider-class field names our `option` may map to."""
    return _FIELDS.get(option, ())


@dataclass(frozen=True)
class ProviderInfo:
    """A LangChain provider: its name, integration package (pip name), chat class, and whether it is installed."""

    name: str
    package: str
    module: str
    class_name: str

    @property
    def installed(self) -> bool:
        return importlib.util.find_spec(self.module.split(".")[0]) is not None

    @property
    def install_command(self) -> str:
        return f"pip install {self.package}"


def providers() -> dict[str, ProviderInfo]:
    """The providers `init_chat_model` knows by name (read from LangChain's own table)."""
    from langchain.chat_models import base

    table: dict[str, tuple[str, str, Any]] = getattr(base, "_BUILTIN_PROVIDERS", {})
    return {
        name: ProviderInfo(name, module.split(".")[0].replace("_", "-"), module, class_name)
        for name, (module, class_name, _) in table.items()
    }


def _class_fields(info: ProviderInfo) -> set[str]:
    module = importlib.import_module(info.module)
    cls = getattr(module, info.class_name)
    fields = getattr(cls, "model_fields", {})
    return set(fields) | {f.alias for f in fields.values() if getattr(f, "alias", None)}


def _mapped(provider: str, fields: set[str], options: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in options.items():
        target = next((f for f in option_fields(name) if f in fields), None)
        if target is None:
            raise OptionNotSupportedError(f"option {name} does not apply to {provider}: models (no such field)")
        out[target] = [value] if name == "stop" and isinstance(value, str) else value
    return out


def provider_chat(provider: str, name: str, options: dict[str, Any]) -> Any:
    """``init_chat_model(name, model_provider=provider, **mapped options)``; a missing integration package is one
    line naming it and the command that installs it."""
    known = providers()
    info = known.get(provider)
    if info is None:
        raise UnknownModelSpecError(
            f"unknown model provider {provider!r}: use local, hf:, openai:, fake: or a LangChain provider "
            f"({', '.join(sorted(known))})"
        )
    if not info.installed:
        raise ModelNotAvailableError(
            f"model spec '{provider}:{name}' needs LangChain's {info.package} package: {info.install_command}"
        )
    from langchain.chat_models import init_chat_model

    return init_chat_model(name, model_provider=provider, **_mapped(provider, _class_fields(info), options))

"""Model spec strings: ``local``, ``hf:<id or dir>``, ``openai:<model>``, ``fake:...`` (no backend imports).

>>> parse_spec("hf:EleutherAI/gpt-neo-125m")
ModelSpec(provider='hf', name='EleutherAI/gpt-neo-125m')
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from llms.errors import UnknownModelSpecError

__all__ = ["DEFAULT_SPEC", "PROVIDERS", "ModelSpec", "parse_spec"]

DEFAULT_SPEC = "local"
PROVIDERS = ("local", "hf", "openai", "fake")  # ours; any other `provider:model` goes to LangChain (llms.providers)
_PROVIDER_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class ModelSpec:
    """A parsed spec: the provider and the provider's own model name (empty for ``local``)."""

    provider: str
    name: str

    def __str__(self) -> str:
        return self.provider if not self.name else f"{self.provider}:{self.name}"


def parse_spec(spec: str) -> ModelSpec:
    """Split ``provider:name``; ``local`` stands alone; ``ollama:llama3.1`` names a LangChain provider."""
    spec = spec.strip()
    provider, _, name = spec.partition(":")
    if provider == "local" and not name:
        return ModelSpec("local", "")
    if provider != "local" and name and _PROVIDER_NAME.fullmatch(provider):
        return ModelSpec(provider, name)
    raise UnknownModelSpecError(
        f"unknown model spec {spec!r}: use 'local', 'hf:<hub id or directory>', 'openai:<model>', 'fake:<text>' "
        "or a LangChain provider such as 'ollama:llama3.1'"
    )

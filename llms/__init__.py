"""Model wrappers behind one spec string: ``local`` (embedded default), ``hf:...``, ``openai:...``, ``fake:...``.

>>> from llms import load_model
>>> load_model("fake:Bonjour").invoke("Hello").content
'Bonjour'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from llms.errors import ModelNotAvailableError, OptionNotSupportedError, RecipesError, UnknownModelSpecError

if TYPE_CHECKING:
    from llms.capabilities import ModelCapabilities, capabilities_of
    from llms.fake import FakeChatModel, FakeLLM
    from llms.limits import with_max_tokens
    from llms.local import LocalChatModel, LocalLLM
    from llms.options import ModelOptions, accepted_options, default_threads
    from llms.registry import describe_specs, load_llm, load_model
    from llms.spec import DEFAULT_SPEC, ModelSpec, parse_spec

__all__ = [
    "DEFAULT_SPEC",
    "FakeChatModel",
    "FakeLLM",
    "LocalChatModel",
    "LocalLLM",
    "ModelCapabilities",
    "ModelNotAvailableError",
    "ModelOptions",
    "ModelSpec",
    "OptionNotSupportedError",
    "RecipesError",
    "UnknownModelSpecError",
    "accepted_options",
    "capabilities_of",
    "default_threads",
    "describe_specs",
    "load_llm",
    "load_model",
    "parse_spec",
    "with_max_tokens",
]

# Loaded on first use, so importing `llms` (the CLI's --help path) pulls in no LangChain.
_LAZY = {
    "FakeChatModel": "llms.fake",
    "FakeLLM": "llms.fake",
    "with_max_tokens": "llms.limits",
    "LocalChatModel": "llms.local",
    "LocalLLM": "llms.local",
    "ModelCapabilities": "llms.capabilities",
    "capabilities_of": "llms.capabilities",
    "ModelOptions": "llms.options",
    "accepted_options": "llms.options",
    "default_threads": "llms.options",
    "DEFAULT_SPEC": "llms.spec",
    "ModelSpec": "llms.spec",
    "parse_spec": "llms.spec",
    "describe_specs": "llms.registry",
    "load_llm": "llms.registry",
    "load_model": "llms.registry",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'llms' has no attribute {name!r}")

"""Generation options, validated once per backend so a typo or a misplaced option is an error, not a no-op.

>>> ModelOptions.for_backend("local", temperature=0.5).temperature
0.5
>>> ModelOptions.for_backend("local", timeout=60)
Traceback (most recent call last):
...
llms.errors.OptionNotSupportedError: option timeout does not apply to local models; it applies to openai
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields
from typing import Any

from llms.errors import OptionNotSupportedError

__all__ = ["BACKEND_OPTIONS", "ModelOptions", "accepted_options", "default_threads"]


def default_threads() -> int:
    """Torch threads for local models: ``RECIPES_THREADS`` if set, else half the cores (1 on a 2-core host).

    On a shared 2-core host torch's default of 2 threads measured 4-6x slower than 1 thread whenever another
    process was busy, so we leave a core free by default.
    """
    env = os.environ.get("RECIPES_THREADS")
    if env:
        value = int(env)
        if value < 1:
            raise ValueError(f"RECIPES_THREADS must be >= 1, got {env!r}")
        return value
    return max(1, (os.cpu_count() or 2) // 2)


_PORTABLE = frozenset({"temperature", "max_new_tokens", "stop", "seed"})
# Which options each backend honours; anything else is refused by name (the fake takes the portable ones so it
# can stand in for any model in tests).
BACKEND_OPTIONS: dict[str, frozenset[str]] = {
    "local": _PORTABLE | {"top_p", "threads", "repetition_penalty", "device", "dtype", "device_map", "engine"},
    "openai": _PORTABLE | {"top_p", "base_url", "api_key", "timeout", "max_retries"},
    "fake": _PORTABLE,
}
BACKEND_OPTIONS["hf"] = BACKEND_OPTIONS["local"]
# Other LangChain providers (llms.providers): these, then each refused unless the provider's class has a field.
_PROVIDER_OPTIONS = _PORTABLE | {"top_p", "base_url", "api_key", "timeout", "max_retries"}
_BACKEND_LABEL = {"local": "local models", "hf": "local models", "openai": "openai: models", "fake": "fake: models"}


def accepted_options(provider: str) -> frozenset[str]:
    """The option names `provider` (``local``, ``hf``, ``openai``, ``fake``, or a LangChain provider) accepts."""
    return BACKEND_OPTIONS.get(provider, _PROVIDER_OPTIONS)


@dataclass(frozen=True)
class ModelOptions:
    """Every option some backend accepts; `for_backend` refuses those the chosen backend does not take."""

    temperature: float = 0.0
    max_new_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int | None = None
    top_p: float | None = None
    # Local models only.
    threads: int | None = None
    repetition_penalty: float | None = None
    device: str = "auto"
    dtype: str = "auto"
    device_map: str | None = None
    engine: str = "auto"
    # OpenAI-compatible backends only.
    base_url: str | None = None
    api_key: str | None = None
    timeout: float | None = None
    max_retries: int | None = None

    @classmethod
    def from_kwargs(cls, **options: Any) -> ModelOptions:
        """Build from keyword options, naming any unknown or invalid one (no backend check)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise TypeError(f"unknown model option(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        clean = {k: v for k, v in options.items() if v is not None}
        if "stop" in clean:
            stop = clean["stop"]
            clean["stop"] = (stop,) if isinstance(stop, str) else tuple(stop)
        opts = cls(**clean)
        opts._check()
        return opts

    @classmethod
    def for_backend(cls, provider: str, **options: Any) -> ModelOptions:
        """Like `from_kwargs`, and an option the backend does not take is a TypeError naming it and the backend."""
        opts = cls.from_kwargs(**options)
        allowed = accepted_options(provider)
        for name in options:
            if name not in allowed and options[name] is not None:
                others = sorted(p for p, names in BACKEND_OPTIONS.items() if name in names and p != "hf")
                where = f"; it applies to {', '.join(others)}" if others else ""
                label = _BACKEND_LABEL.get(provider, f"{provider}: models")
                raise OptionNotSupportedError(f"option {name} does not apply to {label}{where}")
        return opts

    def _check(self) -> None:
        if not math.isfinite(self.temperature) or self.temperature < 0:
            raise ValueError(f"temperature must be a finite number >= 0, got {self.temperature}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.repetition_penalty is not None and not (
            math.isfinite(self.repetition_penalty) and self.repetition_penalty > 0
        ):
            raise ValueError(f"repetition_penalty must be a finite number > 0, got {self.repetition_penalty}")
        if self.engine not in ("auto", "onnxruntime", "transformers"):
            raise ValueError(f"engine must be auto, onnxruntime or transformers, got {self.engine!r}")
        if self.device_map not in (None, "auto"):
            raise ValueError(f"device_map must be 'auto' (or unset), got {self.device_map!r}")

"""Generation options shared by every backend, validated once so a typo is an error, not a silent no-op."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["ModelOptions", "default_threads"]


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


@dataclass(frozen=True)
class ModelOptions:
    """Options every spec accepts; backends ignore none of them silently."""

    temperature: float = 0.0
    max_new_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int | None = None
    threads: int | None = None
    repetition_penalty: float | None = None
    # OpenAI-compatible backends only.
    base_url: str | None = None
    api_key: str | None = None
    timeout: float | None = None
    max_retries: int | None = None

    @classmethod
    def from_kwargs(cls, **options: Any) -> ModelOptions:
        """Build from keyword options, naming any unknown or invalid one."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise TypeError(
                f"unknown model option(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        clean = {k: v for k, v in options.items() if v is not None}
        if "stop" in clean:
            stop = clean["stop"]
            clean["stop"] = (stop,) if isinstance(stop, str) else tuple(stop)
        opts = cls(**clean)
        if opts.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {opts.temperature}")
        if opts.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {opts.max_new_tokens}")
        if opts.threads is not None and opts.threads < 1:
            raise ValueError(f"threads must be >= 1, got {opts.threads}")
        return opts

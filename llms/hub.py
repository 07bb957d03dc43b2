"""Resolve an ``hf:`` name to something loadable, failing fast (seconds, not a minute of retries) when offline."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from llms.errors import ModelNotAvailableError

__all__ = ["ResolvedSource", "resolve_source"]

# Stock loading retried for 51 s before an OSError when the hub was unreachable; one short probe answers first.
PROBE_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class ResolvedSource:
    """A model directory or hub id, plus whether it must load with ``local_files_only``."""

    name: str
    local_only: bool = True


def _offline_help(name: str) -> str:
    return (
        f"to use it offline, on a connected machine run `hf download {name}` and copy ~/.cache/huggingface/hub "
        "here, or save the model with save_pretrained() and pass hf:/path/to/that/dir"
    )


def _is_cached(name: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(name, "config.json")
    return isinstance(found, str)


def _probe(endpoint: str, name: str) -> str | None:
    """None when the hub answers; otherwise why not (one short request, no retries)."""
    import httpx

    try:
        httpx.head(
            f"{endpoint.rstrip('/')}/api/models/{name}", timeout=PROBE_TIMEOUT_S, follow_redirects=False
        )
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    return None


def resolve_source(name: str) -> ResolvedSource:
    """A local directory (must hold config.json), a cached hub id, or a hub id the hub is known to answer for."""
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelNotAvailableError(f"{path} is not a Hugging Face model directory (no config.json)")
        return ResolvedSource(str(path.resolve()))
    if name.startswith(("/", ".", "~")) or name.count("/") > 1:
        raise ModelNotAvailableError(f"no model directory at {path}")
    if _is_cached(name):
        return ResolvedSource(name)
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}:
        raise ModelNotAvailableError(
            f"model {name!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set; {_offline_help(name)}"
        )
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    why = _probe(endpoint, name)
    if why is not None:
        raise ModelNotAvailableError(
            f"model {name!r} is not in the local Hugging Face cache and {endpoint} is unreachable ({why}); "
            + _offline_help(name)
        )
    return ResolvedSource(name, local_only=False)

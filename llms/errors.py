"""Typed errors for model loading and calling; every message is one line that says what to do."""

from __future__ import annotations

from core.errors import RecipesError

__all__ = ["ModelNotAvailableError", "OptionNotSupportedError", "RecipesError", "UnknownModelSpecError"]


class UnknownModelSpecError(RecipesError, ValueError):
    """A model spec string that names no known backend."""


class ModelNotAvailableError(RecipesError, OSError):
    """The model's weights are not on this machine (and could not be fetched); the message says how to get them."""


class OptionNotSupportedError(RecipesError, TypeError):
    """An option the chosen backend does not take (e.g. ``timeout`` on a local model); names both."""

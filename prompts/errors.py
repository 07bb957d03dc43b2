"""Typed errors for prompt templates; every message is one line that names the prompt and what to fix."""

from __future__ import annotations

from core.errors import RecipesError

__all__ = [
    "PromptError",
    "PromptFileError",
    "PromptNotFoundError",
    "PromptPathError",
    "TemplateSecurityError",
    "TemplateVariableError",
]


class PromptError(RecipesError, ValueError):
    """Base of the prompt errors."""


class PromptFileError(PromptError):
    """A prompt data file that is not valid TOML or lacks a required field."""


class PromptNotFoundError(PromptError, LookupError):
    """No prompt with that name (or not in that language)."""


class TemplateSecurityError(PromptError):
    """Template text that could reach beyond plain variable substitution (attribute access, indexing,
    format specs, jinja2/mustache) or whose braces are malformed."""


class PromptPathError(TemplateSecurityError):
    """A prompt file path that leaves the directory it must be loaded from."""


class TemplateVariableError(PromptError):
    """Declared and used variables differ, or a format call has a missing or an unexpected variable."""

"""The one base error of Chain Recipes, at the bottom of the import graph so every package may raise it."""

from __future__ import annotations

__all__ = ["RecipesError"]


class RecipesError(Exception):
    """Base of Chain Recipes' own errors: input or a model answer we can name the fault of, in one line.

    The CLI prints every failed run as one line on stderr and exits 1 (2 for bad usage); ``--debug`` adds the
    traceback. Subclasses also derive from the builtin they refine (ValueError, OSError, ...), so callers that
    catch those keep working.
    """

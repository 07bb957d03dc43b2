"""The bottom layer: the base error and the text helpers every package may use; it imports nothing of ours.

>>> from core import RecipesError, one_line
>>> isinstance(RecipesError("x"), Exception), one_line("two\\nlines")
(True, 'two lines')
"""

from core.errors import RecipesError
from core.text import HANGUL_RANGES, is_hangul, one_line

__all__ = ["HANGUL_RANGES", "RecipesError", "is_hangul", "one_line"]

"""Checks that template text is plain f-string substitution and nothing more (CVE-2025-65106 class).

>>> sorted(placeholders("Hello {name}, {{literal}}", where="demo"))
['name']
"""

from __future__ import annotations

import re
import string

from prompts.errors import TemplateSecurityError

__all__ = ["ALLOWED_FORMATS", "check_format", "placeholders"]

ALLOWED_FORMATS = ("f-string",)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BRACES_HINT = "write literal braces as {{ and }}"


def check_format(template_format: str, *, where: str) -> None:
    """Refuse every template format but f-string: jinja2 and mustache can run logic from data."""
    if template_format not in ALLOWED_FORMATS:
        raise TemplateSecurityError(
            f"{where}: template_format {template_format!r} is refused; only 'f-string' templates are allowed"
        )


def placeholders(text: str, *, where: str) -> set[str]:
    """The variable names in `text`; refuse anything but `{identifier}` placeholders."""
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as err:  # an unmatched brace: the usual cause is literal JSON braces
        raise TemplateSecurityError(f"{where}: malformed braces ({err}); {_BRACES_HINT}") from None
    names: set[str] = set()
    for _literal, field, spec, conversion in parts:
        if field is None:
            continue
        shown = "{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
        if not _IDENTIFIER.fullmatch(field):
            raise TemplateSecurityError(
                f"{where}: placeholder {shown} is refused; placeholders must be plain names like "
                f"{{question}} (no attribute access, indexing or positions); {_BRACES_HINT}"
            )
        if spec or conversion:
            raise TemplateSecurityError(
                f"{where}: placeholder {shown} is refused; format specs and conversions are not allowed; {_BRACES_HINT}"
            )
        names.add(field)
    return names

"""Path containment for user prompt directories: nothing outside the directory is ever read.

>>> import tempfile
>>> resolve_inside(tempfile.gettempdir(), "../etc/passwd")
Traceback (most recent call last):
...
prompts.errors.PromptPathError: '../etc/passwd' is refused: '..' may not appear in a prompt path
"""

from __future__ import annotations

import os
from pathlib import Path

from prompts.errors import PromptFileError, PromptPathError

__all__ = ["prompt_files", "resolve_inside", "resolve_root"]


def _resolve(path: Path, shown: str) -> Path:
    """`path.resolve()` with its failures as typed errors naming `shown`."""
    if "\x00" in str(path):
        raise PromptPathError(f"{shown!r} is refused: a prompt path may not contain a NUL byte")
    try:
        return path.resolve()
    except RuntimeError:  # Python < 3.13: "Symlink loop from ..."
        raise PromptFileError(f"{shown!r}: a symlink loop; not a prompt file") from None
    except OSError as err:  # ELOOP on Python >= 3.13, or a path too long
        raise PromptFileError(f"{shown!r}: cannot resolve ({err.strerror or err})") from None


def resolve_root(root: str | os.PathLike[str]) -> Path:
    """The directory, fully resolved; it must exist."""
    resolved = _resolve(Path(root), str(root))
    if not resolved.is_dir():
        raise PromptFileError(f"prompt directory {str(root)!r} does not exist or is not a directory")
    return resolved


def _inside(path: Path, root: Path, shown: str) -> Path:
    resolved = _resolve(path, shown)
    if not resolved.is_relative_to(root):  # a symlink (or a symlinked parent) leading out
        raise PromptPathError(f"{shown!r} is refused: it leads outside the prompt directory")
    return resolved


def resolve_inside(root: str | os.PathLike[str], relative: str | os.PathLike[str]) -> Path:
    """Resolve `relative` under `root`, refusing absolute paths, `..` and symlinks that lead out."""
    shown = str(relative)
    rel = Path(relative)
    if rel.is_absolute() or rel.drive:
        raise PromptPathError(f"{shown!r} is refused: prompt paths must be relative to the prompt directory")
    if ".." in rel.parts:
        raise PromptPathError(f"{shown!r} is refused: '..' may not appear in a prompt path")
    base = resolve_root(root)
    return _inside(base / rel, base, shown)


def prompt_files(root: str | os.PathLike[str]) -> list[Path]:
    """All `*.toml` under `root`, sorted; symlinked directories are not followed; links leading out refused."""
    base = resolve_root(root)
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        here = Path(dirpath)
        for name in dirnames:
            if (here / name).is_symlink():
                _inside(here / name, base, str((here / name).relative_to(base)))
        for name in filenames:
            if name.endswith(".toml"):
                found.append(_inside(here / name, base, str((here / name).relative_to(base))))
    return sorted(found)

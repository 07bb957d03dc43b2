"""Prompt libraries: the built-in starter set (package data) and user directories.

>>> from prompts.library import builtin
>>> builtin().get("json_answer").format(question="2+2?")
'Return a JSON object with an `answer` key that answers the following question: 2+2?'
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from langchain_core.prompts import BasePromptTemplate

from prompts.build import build
from prompts.errors import PromptError, PromptFileError, PromptNotFoundError
from prompts.paths import prompt_files, resolve_inside, resolve_root
from prompts.spec import PromptSpec, parse_spec, template_text

__all__ = ["PromptInfo", "PromptLibrary", "builtin", "load_dir", "parse_toml"]

MAX_FILE_BYTES = 256 * 1024  # prompt files are small; refuse anything that is clearly not one
MAX_FILE_BYTES_ENV = "RECIPES_MAX_PROMPT_BYTES"
_KINDS_OF_FILE = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
}


@dataclass(frozen=True)
class PromptInfo:
    """What `recipes prompts show` prints about a prompt."""

    name: str
    description: str
    language: str
    kind: str
    variables: tuple[str, ...]
    template: str
    source: str


def parse_toml(text: str, *, source: str) -> PromptSpec:
    """Parse and check one prompt file's text; every failure is a `PromptError` naming `source`."""
    if "\x00" in text:
        raise PromptFileError(f"{source}: contains a NUL byte; not a prompt file")
    try:
        data = tomllib.loads(text.removeprefix("\ufeff"))
    except tomllib.TOMLDecodeError as err:
        raise PromptFileError(f"{source}: not valid TOML ({err})") from None
    except RecursionError:  # tomllib recurses per nesting level: "a = [[[[..." overflows the stack
        raise PromptFileError(f"{source}: arrays or tables nested too deeply; not a prompt file") from None
    try:
        spec = parse_spec(data, source=source)
        build(spec)  # what LangChain itself refuses (a reserved name, ...) fails here, naming the file
    except PromptError as err:
        if source in str(err):
            raise
        raise type(err)(f"{source}: {err}") from None  # "prompt 'x' (en): ..." names the prompt, not the file
    except (ValueError, TypeError, RecursionError) as err:  # pydantic's ValidationError is a ValueError
        first = (str(err).strip().splitlines() or [type(err).__name__])[-1].strip()
        raise PromptFileError(f"{source}: LangChain refuses this template ({first})") from None
    return spec


class PromptLibrary:
    """Prompts keyed by (name, language); `get` builds a fresh LangChain template each call."""

    def __init__(self, specs: Iterable[PromptSpec]) -> None:
        self._specs: dict[tuple[str, str], PromptSpec] = {}
        for spec in specs:
            key = (spec.name, spec.language)
            if key in self._specs:
                raise PromptFileError(
                    f"prompt '{spec.name}' ({spec.language}) is defined twice: "
                    f"{self._specs[key].source} and {spec.source}"
                )
            self._specs[key] = spec

    def names(self, lang: str | None = None) -> list[str]:
        """Sorted prompt names, optionally only those available in `lang`."""
        return sorted({n for n, lg in self._specs if lang is None or lg == lang})

    def languages(self, name: str) -> list[str]:
        """The languages `name` is available in."""
        return sorted(lg for n, lg in self._specs if n == name)

    def spec(self, name: str, lang: str = "en") -> PromptSpec:
        """The checked spec; `PromptNotFoundError` says what exists instead."""
        found = self._specs.get((name, lang))
        if found is not None:
            return found
        if langs := self.languages(name):
            raise PromptNotFoundError(f"prompt '{name}' has no '{lang}' version (available: {', '.join(langs)})")
        known = ", ".join(self.names()) or "none"
        raise PromptNotFoundError(f"no prompt named '{name}' (known: {known})")

    def get(self, name: str, lang: str = "en") -> BasePromptTemplate:
        """A new LangChain template for `name` in `lang`."""
        return build(self.spec(name, lang))

    def info(self, name: str, lang: str = "en") -> PromptInfo:
        """Name, description, language, kind, variables, template text and source file."""
        s = self.spec(name, lang)
        return PromptInfo(s.name, s.description, s.language, s.kind, s.variables, template_text(s), s.source)


@lru_cache(maxsize=1)
def builtin() -> PromptLibrary:
    """The starter set shipped in `prompts/data/` (parsed once; templates are still built fresh)."""
    specs = []
    for entry in sorted(resources.files("prompts.data").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            spec = parse_toml(entry.read_text(encoding="utf-8"), source=f"prompts/data/{entry.name}")
            if entry.name != f"{spec.name}.{spec.language}.toml":
                raise PromptFileError(f"prompts/data/{entry.name}: file name must be <name>.<language>.toml")
            specs.append(spec)
    return PromptLibrary(specs)


def max_file_bytes() -> int:
    """The cap on one prompt file: ``RECIPES_MAX_PROMPT_BYTES`` if set, else 256 KiB."""
    raw = os.environ.get(MAX_FILE_BYTES_ENV)
    if not raw:
        return MAX_FILE_BYTES
    if not raw.strip().isdigit() or int(raw) < 1:
        raise PromptFileError(f"{MAX_FILE_BYTES_ENV} must be a number of bytes >= 1, got {raw!r}")
    return int(raw)


def _not_regular(mode: int) -> str | None:
    return None if stat.S_ISREG(mode) else _KINDS_OF_FILE.get(stat.S_IFMT(mode), "not a regular file")


def _read(path: os.PathLike[str], shown: str) -> PromptSpec:
    """Read one prompt file: only a regular file, never blocking (a FIFO is refused before it is opened, and
    opened non-blocking in case it is swapped in between), at most the cap."""
    cap = max_file_bytes()
    try:
        kind = _not_regular(os.stat(path).st_mode)
        if kind is not None:
            raise PromptFileError(f"{shown}: is {kind}, not a prompt file")
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        fd = os.open(path, flags)
        with os.fdopen(fd, "rb") as fh:
            kind = _not_regular(os.fstat(fh.fileno()).st_mode)
            if kind is not None:
                raise PromptFileError(f"{shown}: is {kind}, not a prompt file")
            raw = fh.read(cap + 1)
    except PromptError:
        raise
    except (OSError, ValueError) as err:  # ValueError: a NUL in the path
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise PromptFileError(f"{shown}: cannot read ({reason})") from None
    if len(raw) > cap:
        raise PromptFileError(
            f"{shown}: larger than the {cap}-byte cap on prompt files; not a prompt file "
            f"(set {MAX_FILE_BYTES_ENV} to raise the cap)"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise PromptFileError(f"{shown}: not UTF-8 text (byte {err.start})") from None
    return parse_toml(text, source=shown)


def load_dir(root: str | os.PathLike[str], files: Iterable[str | os.PathLike[str]] | None = None) -> PromptLibrary:
    """Load every `*.toml` under `root`, or only `files` (relative to `root`); never reads outside `root`."""
    base = resolve_root(root)
    if files is None:
        paths = prompt_files(base)
    else:
        paths = [resolve_inside(base, f) for f in files]
    return PromptLibrary(_read(p, str(p.relative_to(base))) for p in paths)

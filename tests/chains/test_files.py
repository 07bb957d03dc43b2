"""`chains.files`: the bounded reader every app uses for the files users name."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

import chains.files
from chains.files import InputTooLargeError, max_input_bytes, parse_size, read_text_bounded


def test_doctests() -> None:
    assert doctest.testmod(chains.files).failed == 0


@pytest.mark.parametrize(("text", "size"), [("0", 0), ("512k", 512 * 1024), ("64M", 64 << 20), ("2GiB", 2 << 30)])
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", ["", "-1", "1.5M", "ten", "1T"])
def test_bad_sizes_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_size(bad)


def test_the_cap_reads_no_further_than_needed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "q.txt"
    path.write_text("\ufeff" + "x" * 2048, encoding="utf-8")
    monkeypatch.setenv("RECIPES_MAX_INPUT_BYTES", "4K")
    assert max_input_bytes() == 4096 and read_text_bounded(path) == "x" * 2048  # the BOM is dropped
    with pytest.raises(InputTooLargeError, match=r"larger than the 1 KiB cap.*RECIPES_MAX_INPUT_BYTES"):
        read_text_bounded(path, limit=1024)
    monkeypatch.setenv("RECIPES_MAX_INPUT_BYTES", "0")
    with pytest.raises(ValueError, match="at least 1 byte"):
        max_input_bytes()
    monkeypatch.delenv("RECIPES_MAX_INPUT_BYTES")
    assert max_input_bytes() == 64 << 20

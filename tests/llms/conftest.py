"""Fixtures for the OpenAI-path tests: one real `transformers serve` for the session, and a clean environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.llms.openai_server import ServedModel, serve_model, transformers_cli


@pytest.fixture(scope="session")
def openai_server(tiny_chat_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedModel]:
    """A real OpenAI-compatible server (`transformers serve`) on 127.0.0.1 serving the tiny chat model.

    One for the whole session; always stopped at the end (SIGTERM, then kill).
    """
    if transformers_cli() is None:
        pytest.skip("the `transformers` CLI is not installed (pip install 'transformers[serving]')")
    with serve_model(tiny_chat_model_dir, tmp_path_factory.mktemp("serve-logs")) as served:
        yield served


@pytest.fixture
def no_openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own OPENAI_* variables must not leak into a test (``pytest.mark.usefixtures``)."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_BASE", "OPENAI_ORG_ID", "OPENAI_PROXY"):
        monkeypatch.delenv(name, raising=False)

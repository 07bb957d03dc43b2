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


# -- a tiny random Llama for the engine contract tests, and its int4 onnxruntime-genai build ----------


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved random tiny LlamaForCausalLM with the tiny tokenizer and a chat template (an architecture the
    onnxruntime-genai builder supports, unlike GPT-Neo)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from tests.tiny import CHAT_TEMPLATE, tiny_tokenizer

    tokenizer = tiny_tokenizer()
    tokenizer.chat_template = CHAT_TEMPLATE
    eos = tokenizer.eos_token_id
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=512,
        bos_token_id=eos,
        eos_token_id=eos,
        pad_token_id=eos,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).eval()
    directory = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def onnx_cache_dir(tiny_llama_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache root (for ``RECIPES_CACHE_DIR``) holding the tiny Llama's int4 build where `hf:` specs look for it.

    Built once per session by the real builder (~10 s); skipped where onnxruntime-genai is not installed.
    """
    pytest.importorskip("onnxruntime_genai")
    from llms.engines.onnx_build import build_int4, onnx_dir_for

    cache = tmp_path_factory.mktemp("onnx-cache")
    build_int4(tiny_llama_dir, onnx_dir_for(tiny_llama_dir, cache))
    return cache

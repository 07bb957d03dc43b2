"""Shared fixtures: one torch thread, tiny real GPT-Neo models, and the embedded model when installed."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

# One torch thread in tests: the CI machine has 2 cores and other work may share them.
os.environ.setdefault("RECIPES_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
# No test may reach a model hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Started as a background job (`cmd &` in a script, nohup), the suite inherits SIGINT ignored: Python then installs
# no KeyboardInterrupt handler and the children it starts inherit the ignore, so every Ctrl-C test hung or failed
# (measured: the runner's in-process one waited forever). The tests send Ctrl-C on purpose; they need it heard.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def tiny_gpt_neo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved random tiny GPTNeoForCausalLM with no chat template (like the real GPT-Neo)."""
    from tests.tiny import save_tiny_gpt_neo

    return save_tiny_gpt_neo(tmp_path_factory.mktemp("tiny-gpt-neo"))


@pytest.fixture(scope="session")
def roomy_tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny GPT-Neo with 2048 positions: its 400-token vocabulary makes long prompts ~750 tokens."""
    from tests.tiny import save_tiny_gpt_neo

    return save_tiny_gpt_neo(tmp_path_factory.mktemp("tiny-gpt-neo-2048"), max_positions=2048)


@pytest.fixture(scope="session")
def tiny_chat_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same tiny GPT-Neo saved with a simple chat template (what `transformers serve` needs)."""
    from tests.tiny import save_tiny_gpt_neo

    return save_tiny_gpt_neo(tmp_path_factory.mktemp("tiny-gpt-neo-chat"), chat_template=True)


@pytest.fixture(scope="session")
def embedded_model_dir() -> Path:
    """The embedded SmolLM2 converted to safetensors (converts once if needed).

    README's setup installs it, so a missing model fails these tests (with the fixing command) rather than
    skipping them quietly.
    """
    from llms.embedded import prepare_embedded

    return prepare_embedded()


# No run history from tests: tests of logging delete this and point RECIPES_HOME at a tmp dir.
os.environ.setdefault("RECIPES_NO_LOG", "1")

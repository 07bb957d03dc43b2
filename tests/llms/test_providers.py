"""Specs for every provider LangChain knows (`init_chat_model`): ollama here, through its real client library.

The Ollama API is served by a small stdlib server on 127.0.0.1 (no Ollama binary exists here): it answers
/api/chat the way Ollama does (NDJSON chunks, `done_reason`, token counts) and records what it was sent.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from llms import ModelNotAvailableError, OptionNotSupportedError, UnknownModelSpecError, load_llm, load_model
from llms.capabilities import capabilities_of
from llms.limits import with_max_tokens

ANSWER = ["Paris ", "at dawn: ", "croissants, ", "the Seine, ", "파리의 밤."]


class _Ollama(BaseHTTPRequestHandler):
    requests: ClassVar[list[dict[str, Any]]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
        type(self).requests.append({"path": self.path, **body})
        if self.path != "/api/chat":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.end_headers()
        limit = (body.get("options") or {}).get("num_predict") or len(ANSWER)
        pieces = ANSWER[:limit]
        for piece in pieces:
            chunk = {"model": body["model"], "created_at": "2026-12-01T00:00:00Z",
                     "message": {"role": "assistant", "content": piece}, "done": False}
            self.wfile.write((json.dumps(chunk) + "\n").encode())
        final = {"model": body["model"], "created_at": "2026-12-01T00:00:00Z",
                 "message": {"role": "assistant", "content": ""}, "done": True,
                 "done_reason": "length" if len(pieces) < len(ANSWER) else "stop",
                 "prompt_eval_count": 11, "eval_count": len(pieces), "total_duration": 1}
        self.wfile.write((json.dumps(final) + "\n").encode())


@pytest.fixture
def ollama() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    _Ollama.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ollama)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Ollama.requests
    finally:
        server.shutdown()
        server.server_close()


def test_ollama_spec_through_init_chat_model(ollama: tuple[str, list[dict[str, Any]]]) -> None:
    url, seen = ollama
    model = load_model("ollama:llama3.1", base_url=url, temperature=0.2, max_new_tokens=3, stop=["###"], seed=5)
    assert type(model).__name__ == "ChatOllama"
    message = model.invoke("Describe a perfect day in Paris?")
    assert message.text == "".join(ANSWER[:3])
    (request,) = seen
    # Our option names arrived under Ollama's own.
    assert request["model"] == "llama3.1" and request["options"]["num_predict"] == 3
    assert request["options"]["temperature"] == 0.2 and request["options"]["seed"] == 5
    assert request["options"]["stop"] == ["###"]
    assert request["messages"][-1] == {"role": "user", "content": "Describe a perfect day in Paris?"}
    # What our recipes ask of a model works on it: its length option, found from its own fields.
    assert capabilities_of(model).length_field == "num_predict"
    short = with_max_tokens(model, 1)
    assert short.invoke("x").text == ANSWER[0] and model.num_predict == 3  # type: ignore[attr-defined]


def test_options_a_provider_has_no_field_for_are_refused(ollama: tuple[str, list[dict[str, Any]]]) -> None:
    url, _ = ollama
    with pytest.raises(OptionNotSupportedError, match="max_retries does not apply to ollama"):
        load_model("ollama:llama3.1", base_url=url, max_retries=3)
    with pytest.raises(OptionNotSupportedError, match="threads does not apply to ollama"):
        load_model("ollama:llama3.1", threads=2)
    with pytest.raises(UnknownModelSpecError, match="chat models only"):
        load_llm("ollama:llama3.1")
    with pytest.raises(UnknownModelSpecError, match="unknown model provider 'nosuch'"):
        load_model("nosuch:model")


def test_a_recipe_runs_on_the_provider_from_the_cli(ollama: tuple[str, list[dict[str, Any]]]) -> None:
    url, seen = ollama
    result = subprocess.run(
        [sys.executable, "-m", "apps.cli", "run", "perfect-day", "Paris", "--model", "ollama:llama3.1",
         "--base-url", url, "--no-stream", "--json"],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[2],
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert "".join(ANSWER) in json.dumps(out, ensure_ascii=False)
    assert any("Paris" in m["content"] for r in seen for m in r.get("messages", []))


def test_missing_integration_is_one_line_naming_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    from llms.providers import providers

    missing = sorted(name for name, info in providers().items() if not info.installed)
    assert missing, "every provider package is installed: nothing to check"
    provider = "groq" if "groq" in missing else missing[0]
    with pytest.raises(ModelNotAvailableError) as info:
        load_model(f"{provider}:some-model")
    package = providers()[provider].package
    assert str(info.value).endswith(f"pip install {package}") and "\n" not in str(info.value)
    # An installed one hidden the same way: ollama.
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None if name == "langchain_ollama" else 1)
    with pytest.raises(ModelNotAvailableError, match="langchain-ollama package: pip install langchain-ollama"):
        load_model("ollama:llama3.1")


def test_missing_integration_from_the_cli() -> None:
    code = (
        "import importlib.util, sys\n"
        "real = importlib.util.find_spec\n"
        "importlib.util.find_spec = lambda n, *a: None if n == 'langchain_ollama' else real(n, *a)\n"
        "from apps.cli import main\n"
        "sys.exit(main(['run', 'perfect-day', 'Paris', '--model', 'ollama:llama3.1', '--no-stream']))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            cwd=Path(__file__).parents[2])
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: model spec 'ollama:llama3.1' needs LangChain's langchain-ollama package: pip install langchain-ollama"
    ]

"""Servers for the OpenAI-path tests: a real `transformers serve` process, and a tiny fault-injecting server.

`transformers serve` is the real OpenAI-compatible server; `FaultServer` (stdlib `http.server` in a thread) is
used only for faults the real server cannot produce on demand: 401, 429 with retry-after, 5xx, slow answers,
HTML or empty bodies, hand-written completions, bodies that echo the request headers (the API key), and answers
that drip one byte at a time.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = [
    "FaultServer",
    "Reply",
    "Request",
    "ServedModel",
    "chat_body",
    "completion_body",
    "echo_headers",
    "free_port",
    "serve_model",
    "sse_chat_body",
    "transformers_cli",
]

START_TIMEOUT_S = 60.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the real server -------------------------------------------------------------------------------------


@dataclass
class ServedModel:
    """A running `transformers serve`: its base URL (``.../v1``), the model id to ask for, and the process."""

    base_url: str
    model_id: str
    process: subprocess.Popen[bytes]
    log_path: Path


def transformers_cli() -> str | None:
    local = Path(sys.executable).parent / "transformers"
    return str(local) if local.exists() else shutil.which("transformers")


def _lists_model(base_url: str, model_id: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=1.0) as resp:
            data = json.load(resp)
    except (OSError, ValueError):
        return False
    return any(m.get("id") == model_id for m in data.get("data", []))


def _log_tail(path: Path, lines: int = 8) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it is still alive after 10 s (idle shutdown takes ~2 s)."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _start_once(model_dir: Path, log_path: Path, timeout: float) -> ServedModel | str:
    """Start one server on a fresh port: the served model, or why not (a taken port exits with code 3)."""
    cli = transformers_cli()
    if cli is None:
        return "the `transformers` CLI is not installed (pip install 'transformers[serving]')"
    port = free_port()
    model_id = str(model_dir)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    cmd = [cli, "serve", model_id, "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    served = ServedModel(f"http://127.0.0.1:{port}/v1", model_id, process, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # Ready only when *this* server lists the model: a 200 could come from another server on a taken port.
        if _lists_model(served.base_url, model_id):
            return served
        if process.poll() is not None:
            return f"transformers serve exited with code {process.returncode}: {_log_tail(log_path)}"
        time.sleep(0.25)
    _stop(process)
    return f"transformers serve did not list {model_id} within {timeout:g} s: {_log_tail(log_path)}"


@contextmanager
def serve_model(model_dir: Path, log_dir: Path, *, timeout: float = START_TIMEOUT_S) -> Iterator[ServedModel]:
    """Run `transformers serve <model_dir>` on a free 127.0.0.1 port until the block ends; always stops it.

    Raises RuntimeError (with the server log's tail) if it is not ready within `timeout` seconds.
    """
    result = _start_once(model_dir, log_dir / "serve-1.log", timeout)
    if isinstance(result, str) and "code 3" in result:  # lost a race for the port: one more try
        result = _start_once(model_dir, log_dir / "serve-2.log", timeout)
    if isinstance(result, str):
        raise RuntimeError(result)
    try:
        yield result
    finally:
        _stop(result.process)


# --- the fault-injecting server --------------------------------------------------------------------------


def chat_body(content: str | None, *, finish_reason: str = "stop", model: str = "m") -> dict[str, Any]:
    """A minimal `/v1/chat/completions` answer."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish_reason,
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }


def completion_body(text: str, *, finish_reason: str = "stop", model: str = "m") -> dict[str, Any]:
    """A minimal `/v1/completions` answer."""
    return {
        "id": "cmpl-1",
        "object": "text_completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "text": text, "finish_reason": finish_reason, "logprobs": None}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }


def sse_chat_body(pieces: Sequence[str], *, finish_reason: str = "stop", model: str = "m") -> str:
    """A streamed chat answer as server-sent events."""
    events = []
    for piece in pieces:
        delta = {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
        events.append({"id": "c", "object": "chat.completion.chunk", "created": 0, "model": model, **delta})
    last = {"choices": [{"index": 0, "delta": {}, "finish_reason": finish_reason}]}
    events.append({"id": "c", "object": "chat.completion.chunk", "created": 0, "model": model, **last})
    return "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"


@dataclass(frozen=True)
class Request:
    """What a `FaultServer` received: path, headers (names lower-cased) and the JSON body (raw bytes if not JSON)."""

    path: str
    headers: dict[str, str]
    body: Any


Body = dict[str, Any] | str | bytes


@dataclass(frozen=True)
class Reply:
    """One scripted answer: status, body (a dict is sent as JSON; a callable gets the `Request` and returns the
    body), content type, headers, delay before it, and `drip`: seconds between bytes (headers, then the body,
    sent one byte at a time; `drip_headers` drips the status line and headers too)."""

    status: int = 200
    body: Body | Callable[[Request], Body] = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drip: float = 0.0
    drip_headers: bool = False


def echo_headers(template: str = "{headers}", *, as_json: str | None = "error") -> Callable[[Request], Body]:
    """A body that echoes the request's headers (the API key with them), as a badly behaved proxy might.

    ``template`` gets ``{headers}`` (``Name: value`` lines) and ``{auth}`` (the Authorization header); with
    ``as_json`` the text goes in ``{as_json: {"message": text}}``, else it is the body itself.
    """

    def body(request: Request) -> Body:
        lines = "\n".join(f"{name}: {value}" for name, value in request.headers.items())
        text = template.format(headers=lines, auth=request.headers.get("authorization", ""))
        return {as_json: {"message": text, "headers": request.headers}} if as_json else text

    return body


class FaultServer:
    """An HTTP server on 127.0.0.1 answering every POST with the next scripted `Reply` (the last one repeats).

    ``requests`` records each request's path and JSON body, so tests can count retries.

    >>> with FaultServer([Reply(401, {"error": {"message": "bad key"}})]) as srv:  # doctest: +SKIP
    ...     srv.base_url
    'http://127.0.0.1:PORT/v1'
    """

    MAX_DELAY_S = 5.0  # bounded: a slow reply never holds a test (or the shutdown) for long

    def __init__(self, replies: Reply | Sequence[Reply]) -> None:
        self._replies = [replies] if isinstance(replies, Reply) else list(replies)
        if not self._replies:
            raise ValueError("FaultServer needs at least one Reply")
        if any(r.delay > self.MAX_DELAY_S for r in self._replies):
            raise ValueError(f"Reply.delay is capped at {self.MAX_DELAY_S} s")
        self.requests: list[tuple[str, Any]] = []
        self.received: list[Request] = []  # the same requests with their headers
        self.closed = threading.Event()  # set on exit: a dripping reply stops
        self.times: list[float] = []  # time.monotonic() of each request, to check retry-after was honoured
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05})

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def _next(self, path: str, body: Any, headers: dict[str, str]) -> Reply:
        with self._lock:
            self.requests.append((path, body))
            self.received.append(Request(path, headers, body))
            self.times.append(time.monotonic())
            return self._replies[min(len(self.requests) - 1, len(self._replies) - 1)]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw or b"null")
                except ValueError:
                    body = raw
                headers = {name.lower(): value for name, value in self.headers.items()}
                reply = server._next(self.path, body, headers)
                if reply.delay:
                    time.sleep(reply.delay)
                data = reply.body(Request(self.path, headers, body)) if callable(reply.body) else reply.body
                payload = (
                    json.dumps(data).encode()
                    if isinstance(data, dict)
                    else (data.encode() if isinstance(data, str) else data)
                )
                try:
                    if reply.drip:
                        self._drip(payload, reply)
                        return
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.content_type)
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
                    pass

            def _drip(self, payload: bytes, reply: Reply) -> None:
                """Status line and headers (at once, or dripped too), then the body one byte per `reply.drip` s."""
                self.close_connection = True
                fields = {"Content-Type": reply.content_type, "Content-Length": str(len(payload)), **reply.headers}
                head = f"HTTP/1.1 {reply.status} OK\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items())
                data = head.encode("latin-1") + b"\r\n" + payload
                if not reply.drip_headers:
                    self.wfile.write(data[: -len(payload) or None])
                    self.wfile.flush()
                    data = payload
                for i in range(len(data)):
                    if server.closed.wait(reply.drip):  # the server is closing: stop dripping
                        return
                    self.wfile.write(data[i : i + 1])
                    self.wfile.flush()

        return Handler

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closed.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

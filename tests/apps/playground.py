"""Start `recipes serve` in a subprocess on a free port for the playground tests, and stop it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["free_port", "serve"]

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(*args: str, log: Path, wait_s: float = 180.0) -> Iterator[str]:
    """Run the playground with `args` until `/` answers 200; yield its URL; stop it afterwards."""
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "RECIPES_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "RECIPES_NO_LOG": "1", "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            # `recipes serve`: the console script is `apps.cli:main`
            [sys.executable, "-m", "apps.cli", "serve", "--port", str(port), *args], cwd=ROOT, env=env, stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + wait_s
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"the server exited with {proc.returncode}: {log.read_text(errors='replace')}")
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"no HTTP 200 on {url} in {wait_s:.0f} s: {log.read_text(errors='replace')}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

"""16 threads and 4 processes writing to one cache and one history at once: no error, no lost row."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
N = 200

# One writer: `threads` threads (sharing one cache object and one RunLog), N cache entries and N logged model
# calls each; prints the errors it saw.
WRITER = """
import sys, threading, uuid
from langchain_core.outputs import Generation, LLMResult
from llms.cache import SQLiteCache
from llms.history import RunLog

cache_path, history_path, tag, threads, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
cache, log, errors = SQLiteCache(cache_path), RunLog(history_path, app=tag), []

def work(t):
    try:
        for i in range(n):
            prompt = f"{tag}-{t}-{i}"
            cache.update(prompt, "llm", [Generation(text=prompt.upper(), generation_info={"finish_reason": "stop"})])
            run_id = uuid.uuid4()
            log.on_llm_start({}, [prompt], run_id=run_id)
            log.on_llm_end(LLMResult(generations=[[Generation(text=prompt.upper())]]), run_id=run_id)
    except Exception as exc:
        errors.append(repr(exc))

pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
for th in pool: th.start()
for th in pool: th.join()
errors += ["cache off"] * cache.disabled + ["history off"] * log.disabled
print("ERRORS", len(errors), errors[:3], "STORED", cache.stored)
"""


def test_threads_and_processes_lose_nothing(tmp_path: Path) -> None:
    from llms.cache import SQLiteCache
    from llms.history_db import HistoryDB

    cache_path, history_path = tmp_path / "cache.db", tmp_path / "runs.db"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(cache_path), str(history_path), f"proc{p}", "1", str(N)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for p in range(4)
    ]
    out = subprocess.run(  # 16 threads in one more process, while the 4 others write
        [sys.executable, "-c", WRITER, str(cache_path), str(history_path), "threads", "16", str(N)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    results = [p.communicate(timeout=600) for p in procs]
    for stdout, stderr in [(out.stdout, out.stderr), *results]:
        assert "ERRORS 0 [] STORED" in stdout, stdout + stderr
        assert "warning" not in stderr, stderr
    cache = SQLiteCache(cache_path)
    assert cache.count() == 20 * N
    for tag, t in [("threads", 15), ("proc3", 0)]:
        hit = cache.lookup(f"{tag}-{t}-{N - 1}", "llm")
        assert hit is not None and hit[0].text == f"{tag}-{t}-{N - 1}".upper()
    history = HistoryDB(history_path)
    assert history.count("runs") == 5 and history.count("steps") == 20 * N
    runs = {r["app"]: r for r in history.list_runs()}
    assert runs["threads"]["n_calls"] == 16 * N and all(runs[f"proc{p}"]["n_calls"] == N for p in range(4))


def test_one_store_many_threads_in_process(tmp_path: Path) -> None:
    """The same, in this process: one `SQLiteCache` shared by 16 threads."""
    from langchain_core.outputs import Generation

    from llms.cache import SQLiteCache

    cache, errors = SQLiteCache(tmp_path / "cache.db"), []

    def work(t: int) -> None:
        try:
            for i in range(50):
                cache.update(f"{t}-{i}", "s", [Generation(text="x", generation_info={"finish_reason": "stop"})])
                assert cache.lookup(f"{t}-{i}", "s") is not None
        except Exception as exc:
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(t,)) for t in range(16)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    assert errors == [] and cache.count() == 16 * 50 and cache.hits == 16 * 50

"""The embedded model on each engine: transformers fp32 vs onnxruntime-genai int4, measured in one run.

Run:  .venv/bin/python bench/engines.py [--tokens 64] [--repeats 3] [--plot bench/engines.png]

Same chat prompts, same max new tokens, greedy, default threads (1 on a 2-core host), arms interleaved so a busy
machine slows all alike. Reports, with ratios against the transformers baseline of this run:
  batch-1 tok/s           sequential calls, useful (generated) tokens / time (goal: onnxruntime >= 4x)
  batch-8 tok/s           one 8-prompt call, aggregate useful tokens / time (goal: >= 4x batch-1 of that engine)
  constrained/plain       time per decoding step with a JSON-schema grammar vs without (goal <= 1.05x)
  first answer            fresh `recipes run perfect-day Paris --engine X`: first answer text and whole answer
                          (goal: onnxruntime first answer <= 5 s), and the process's peak RSS
  int4 vs fp32 quality    20 prompts, greedy: share of leading tokens equal to the fp32 output
llama-cpp-python on the shipped GGUF is measured too when it is importable (never required).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.batch import PROMPTS  # noqa: E402 (after the path set-up above) -- the batch benchmark's prompts

QUALITY_PROMPTS = [
    *PROMPTS,
    "Tell me a fun fact about octopuses.",
    "How do I boil an egg?",
    "What is the capital of Japan?",
    "Suggest a name for a black cat.",
    "Summarise the plot of Cinderella in two sentences.",
    "What should I pack for a beach holiday?",
    "서울에서 가볼 만한 곳을 알려 주세요.",
    "Explain recursion to a child.",
    "Give me a recipe idea with tomatoes.",
    "What is the difference between a list and a tuple?",
    "Why do cats purr?",
    "Write a short thank-you note to a teacher.",
]
QUESTIONS = [
    "Suggest a movie for a rainy evening.",
    "Recommend a scary film for Halloween.",
    "A funny film for kids, please.",
    "Name a classic science fiction movie.",
]
SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "maxLength": 60},
        "year": {"type": "integer", "minimum": 1900, "maximum": 2030},
        "genre": {"type": "string", "enum": ["comedy", "drama", "horror", "sci-fi", "romance", "animation"]},
    },
    "required": ["title", "year", "genre"],
}


def chat_prompt(engine: Any, question: str) -> str:
    return str(engine.format_chat([{"role": "user", "content": question}]))


def rates(engine: Any, prompts: list[str], tokens: int) -> tuple[float, float, int, int]:
    """(batch-1 tok/s, batch-N tok/s, tokens at batch 1, tokens at batch N) over `prompts` on `engine`."""
    from llms.engines.base import GenerationOptions

    opts = GenerationOptions(max_new_tokens=tokens)
    started, n1 = time.perf_counter(), 0
    for p in prompts:
        n1 += engine.generate([p], opts)[0].completion_tokens
    t1 = time.perf_counter() - started
    started = time.perf_counter()
    nb = sum(c.completion_tokens for c in engine.generate(prompts, opts))
    tb = time.perf_counter() - started
    return n1 / t1, nb / tb, n1, nb


def onnx_step_time(engine: Any, prompt: str, grammar: Any, tokens: int) -> tuple[float, int]:
    """Seconds per decoding step (after the prompt) of the onnxruntime step loop, and the number of steps."""
    from llms.engines.base import GenerationOptions
    from llms.engines.onnxruntime import _Row

    row = _Row(prompt=engine.tokenizer(prompt)["input_ids"])
    stamps = [time.perf_counter() for _ in engine._run([row], GenerationOptions(tokens, grammar=grammar), None, False)]
    if len(stamps) < 2:
        return float("nan"), 0
    return (stamps[-1] - stamps[0]) / (len(stamps) - 1), len(stamps) - 1


def leading_share(reference: list[int], other: list[int]) -> float:
    """Share of `reference`'s tokens that `other` reproduces before the first difference."""
    same = 0
    for a, b in zip(reference, other, strict=False):
        if a != b:
            break
        same += 1
    return same / max(1, len(reference))


def quality(fp32: Any, int4: Any, tokens: int) -> tuple[float, int]:
    """Mean leading-token share of int4 vs fp32 over QUALITY_PROMPTS (greedy), and how many match in full."""
    import torch

    from llms.engines.base import GenerationOptions
    from llms.engines.onnxruntime import _Row

    shares, identical = [], 0
    for question in QUALITY_PROMPTS:
        prompt = chat_prompt(fp32, question)
        enc = fp32.tokenizer(prompt, return_tensors="pt")
        with torch.inference_mode():
            out = fp32.model.generate(
                **enc, max_new_tokens=tokens, do_sample=False, pad_token_id=fp32.tokenizer.pad_token_id
            )
        ref = out[0][enc["input_ids"].shape[1] :].tolist()
        if fp32.eos_ids & set(ref):
            ref = ref[: next(i for i, t in enumerate(ref) if t in fp32.eos_ids) + 1]
        row = _Row(prompt=int4.tokenizer(prompt)["input_ids"])
        for _ in int4._run([row], GenerationOptions(tokens), None, False):
            pass
        shares.append(leading_share(ref, row.ids))
        identical += ref == row.ids
    return statistics.mean(shares), identical


# Runs the command and writes its peak RSS to the fd given first. A small launcher, because a child forked from
# this (large) process would report our RSS at the fork as its own peak (Linux carries ru_maxrss across exec).
_LAUNCHER = (
    "import os, resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[2:])\n"
    "os.write(int(sys.argv[1]), str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss).encode())\n"
    "sys.exit(code)\n"
)


def fresh_run(engine: str) -> tuple[float, float, float]:
    """`recipes run perfect-day Paris --engine X --stream` in a fresh process: seconds to the first answer text,
    seconds to the whole answer (exit), peak RSS in GB."""
    command = [sys.executable, "-m", "apps.cli", "run", "perfect-day", "Paris", "--engine", engine, "--stream"]
    rss_read, rss_write = os.pipe()
    log = tempfile.TemporaryFile()
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", _LAUNCHER, str(rss_write), *command],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=log,
        pass_fds=(rss_write,),
    )
    os.close(rss_write)
    assert proc.stdout is not None
    first = float("nan")
    while True:
        chunk = os.read(proc.stdout.fileno(), 4096)
        if not chunk:
            break
        if first != first and chunk.strip():  # NaN until the first visible text arrives
            first = time.perf_counter() - started
    code = proc.wait()
    total = time.perf_counter() - started
    log.seek(0)
    errors = log.read().decode(errors="replace").strip()
    log.close()
    with os.fdopen(rss_read, "rb") as pipe:
        peak_kib = int(pipe.read() or 0)
    if code != 0:
        raise SystemExit(f"recipes run perfect-day failed with --engine {engine} (exit {code}): {errors[-500:]}")
    return first, total, peak_kib / 1024**2  # ru_maxrss is in KiB on Linux


def llama_cpp_rate(tokens: int) -> float | None:
    """batch-1 tok/s of llama-cpp-python on the shipped GGUF, when importable (never required)."""
    try:
        import llama_cpp
    except ImportError:
        return None
    from llms.embedded import find_gguf

    gguf = find_gguf()
    if gguf is None:
        return None
    llm = llama_cpp.Llama(str(gguf), n_threads=1, n_ctx=1024, verbose=False)
    started, n = time.perf_counter(), 0
    for question in PROMPTS:
        out = llm.create_chat_completion([{"role": "user", "content": question}], max_tokens=tokens, temperature=0)
        n += out["usage"]["completion_tokens"]
    return n / (time.perf_counter() - started)


def plot(path: Path, figures: dict[str, dict[str, float]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [k for k in figures if figures[k]]
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.6))
    for ax, title in zip(axes, panels, strict=True):
        names = list(figures[title])
        values = [figures[title][n] for n in names]
        bars = ax.bar(names, values, color=["#999999", "#1f77b4", "#ff7f0e"][: len(names)])
        ax.bar_label(bars, fmt="%.2f" if max(values) < 10 else "%.1f")
        ax.set_title(title, fontsize=10)
        ax.tick_params(axis="x", labelsize=8)
    fig.suptitle("SmolLM2-135M-Instruct: transformers fp32 vs onnxruntime-genai int4 (one run)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=64, help="max new tokens per answer (default 64)")
    parser.add_argument("--repeats", type=int, default=3, help="median of this many runs per figure")
    parser.add_argument("--plot", type=Path, default=ROOT / "bench" / "engines.png")
    args = parser.parse_args()

    from llms import load_model
    from llms.grammar import json_grammar
    from llms.options import default_threads

    fp32 = load_model("local", engine="transformers").engine  # type: ignore[attr-defined]
    int4 = load_model("local", engine="onnxruntime").engine  # type: ignore[attr-defined]
    print(f"threads={default_threads()} new_tokens<={args.tokens} repeats={args.repeats} (medians); "
          f"load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    prompts = [chat_prompt(fp32, q) for q in PROMPTS]
    for engine in (fp32, int4):  # warm up
        rates(engine, prompts[:2], 4)

    # 1-2. batch-1 and batch-8 useful tokens per second, interleaved.
    got: dict[str, list[tuple[float, float, int, int]]] = {"transformers": [], "onnxruntime": []}
    for _ in range(args.repeats):
        got["transformers"].append(rates(fp32, prompts, args.tokens))
        got["onnxruntime"].append(rates(int4, prompts, args.tokens))
    b1 = {k: statistics.median(r[0] for r in v) for k, v in got.items()}
    b8 = {k: statistics.median(r[1] for r in v) for k, v in got.items()}
    n1 = {k: v[-1][2] for k, v in got.items()}
    n8 = {k: v[-1][3] for k, v in got.items()}
    base1, base8 = b1["transformers"], b8["transformers"]
    print("\n                      batch-1 tok/s (vs tf)    batch-8 tok/s (vs tf)    batch-8 / batch-1")
    for name in ("transformers", "onnxruntime"):
        print(
            f"{name:<14} fp32/int4  {b1[name]:7.1f} ({b1[name] / base1:4.2f}x)     {b8[name]:7.1f} "
            f"({b8[name] / base8:4.2f}x)     {b8[name] / b1[name]:4.2f}x    [{n1[name]}/{n8[name]} tokens]"
        )
    llama = llama_cpp_rate(args.tokens)
    if llama is None:
        print("llama-cpp-python: not importable, skipped")
    else:
        print(f"llama-cpp-python Q4_1 batch-1 {llama:7.1f} tok/s ({llama / base1:4.2f}x)")
    print(f"goal: onnxruntime batch-1 >= 4x transformers: {b1['onnxruntime'] / base1:.2f}x; "
          f"batch-8 >= 4x its batch-1: {b8['onnxruntime'] / b1['onnxruntime']:.2f}x")

    # 3. Grammar cost per decoding step on the onnxruntime engine.
    grammar = json_grammar(SCHEMA)
    onnx_step_time(int4, chat_prompt(int4, QUESTIONS[0]), grammar, 8)  # warm up (llguidance tokenizer)
    plain_t, cons_t, steps = [], [], []
    for _ in range(args.repeats * 2):
        for q in QUESTIONS:
            p = chat_prompt(int4, q)
            t, n = onnx_step_time(int4, p, grammar, args.tokens)
            # The same number of steps unconstrained (later steps attend over more positions).
            plain_t.append(onnx_step_time(int4, p, None, n + 1)[0])
            cons_t.append(t)
            steps.append(n)
    plain, cons = statistics.median(plain_t), statistics.median(cons_t)
    # Each pair runs back to back, so the median of the pairs' ratios is least affected by a busy machine.
    paired = statistics.median(c / p for c, p in zip(cons_t, plain_t, strict=True))
    print(f"\nonnxruntime per decoding step: plain {plain * 1e3:.2f} ms, constrained {cons * 1e3:.2f} ms "
          f"({statistics.median(steps):.0f} steps) -> {paired:.3f}x (median of {len(cons_t)} pairs; "
          f"{cons / plain:.3f}x of medians)   (goal <= 1.05x)")

    # 4. Quality: int4 vs fp32, greedy.
    share, identical = quality(fp32, int4, 32)
    print(f"\nint4 vs fp32, {len(QUALITY_PROMPTS)} prompts, greedy 32 tokens: mean leading-token share {share:.2f}; "
          f"identical outputs {identical}/{len(QUALITY_PROMPTS)}")

    # 5. Fresh process: `recipes run perfect-day Paris`.
    runs: dict[str, list[tuple[float, float, float]]] = {"transformers": [], "onnxruntime": []}
    for _ in range(max(1, min(args.repeats, 2))):
        for name in runs:
            runs[name].append(fresh_run(name))
    first = {k: statistics.median(r[0] for r in v) for k, v in runs.items()}
    whole = {k: statistics.median(r[1] for r in v) for k, v in runs.items()}
    rss = {k: max(r[2] for r in v) for k, v in runs.items()}
    print("\n`recipes run perfect-day Paris` in a fresh process: first answer text / whole answer / peak RSS")
    for name in runs:
        print(f"{name:<14} {first[name]:5.1f} s ({first[name] / first['transformers']:4.2f}x)   "
              f"{whole[name]:5.1f} s ({whole[name] / whole['transformers']:4.2f}x)   {rss[name]:4.2f} GB")
    print(f"goal: onnxruntime first answer <= 5 s: {first['onnxruntime']:.1f} s")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")

    rate_panel = {"transformers fp32": base1, "onnxruntime int4": b1["onnxruntime"]}
    if llama is not None:
        rate_panel["llama.cpp Q4_1"] = llama
    plot(args.plot, {
        "batch-1 tok/s": rate_panel,
        "batch-8 aggregate tok/s": {"transformers fp32": base8, "onnxruntime int4": b8["onnxruntime"]},
        "perfect-day first answer (s)": {"transformers fp32": first["transformers"],
                                         "onnxruntime int4": first["onnxruntime"]},
        "peak RSS (GB)": {"transformers fp32": rss["transformers"], "onnxruntime int4": rss["onnxruntime"]},
    })


if __name__ == "__main__":
    main()

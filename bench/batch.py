"""Batch throughput and wrapper overhead of our local chat model, measured in one run.

Run:  .venv/bin/python bench/batch.py [--model local] [--tokens 64] [--repeats 3]

Prints (1) batch-8 vs batch-1 throughput (goal >= 4x) and (2) our `invoke` time vs raw `model.generate` for the
same prompt and the same number of new tokens (goal <= 1.05x). Baselines are measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROMPTS = [
    "Describe a perfect day in Paris.",
    "What movie genres do you like?",
    "Give three tips for learning Python.",
    "Explain what a chain of prompts is.",
    "Name some fruits that are red.",
    "당신이 좋아하는 영화 장르는 무엇인가요?",
    "Write a haiku about the sea.",
    "Why is the sky blue?",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="local")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import torch

    from llms import load_model
    from llms.engines.base import GenerationOptions

    # The transformers engine: this compares our wrapper with raw generate (bench/engines.py compares engines).
    model = load_model(args.model, max_new_tokens=args.tokens, engine="transformers")
    engine = model.engine  # type: ignore[attr-defined]
    print(f"model={args.model} threads={torch.get_num_threads()} new_tokens<={args.tokens}")
    model.invoke("warm up")

    def tokens_of(messages: list) -> int:  # type: ignore[type-arg]
        return sum(m.usage_metadata["output_tokens"] for m in messages)

    seq_rates, batch_rates = [], []
    for _ in range(args.repeats):
        started = time.perf_counter()
        outs = [model.invoke(p) for p in PROMPTS]
        seq_rates.append(tokens_of(outs) / (time.perf_counter() - started))
        started = time.perf_counter()
        outs = model.batch(PROMPTS)
        batch_rates.append(tokens_of(outs) / (time.perf_counter() - started))
    seq, bat = statistics.median(seq_rates), statistics.median(batch_rates)
    print(f"batch-1 (sequential invoke): {seq:6.1f} tok/s")
    print(f"batch-8 (one .batch call):   {bat:6.1f} tok/s")
    print(f"batch-8 / batch-1 throughput: {bat / seq:.2f}x   (goal >= 4x)")

    # Context: the same ratio for raw `model.generate` with every row forced to the full length, i.e. the
    # ceiling when no row stops early (in a real batch, finished rows still ride along as padding).
    texts = [model._prompt(model._convert_input(p).to_messages()) for p in PROMPTS]  # type: ignore[attr-defined]
    forced = {}
    for size in (1, len(texts)):
        enc = engine.tokenizer(texts[:size], return_tensors="pt", padding=True, padding_side="left")
        started = time.perf_counter()
        with torch.inference_mode():
            engine.model.generate(
                **enc,
                max_new_tokens=args.tokens,
                min_new_tokens=args.tokens,
                do_sample=False,
                pad_token_id=engine.tokenizer.pad_token_id,
            )
        forced[size] = size * args.tokens / (time.perf_counter() - started)
    print(
        f"raw generate, all rows forced to {args.tokens} tokens: batch-8 / batch-1 = "
        f"{forced[len(texts)] / forced[1]:.2f}x ({forced[1]:.1f} -> {forced[len(texts)]:.1f} tok/s)"
    )

    # Overhead: the same prompt, the same number of new tokens (eos disabled so both run to the limit).
    prompt_text = model._prompt(model._convert_input(PROMPTS[0]).to_messages())  # type: ignore[attr-defined]
    enc = engine.tokenizer(prompt_text, return_tensors="pt")
    ours_t, raw_t = [], []
    for _ in range(args.repeats):
        started = time.perf_counter()
        ours = engine.generate([prompt_text], GenerationOptions(max_new_tokens=args.tokens))
        ours_t.append(time.perf_counter() - started)
        started = time.perf_counter()
        with torch.inference_mode():
            raw = engine.model.generate(
                **enc, max_new_tokens=args.tokens, do_sample=False, pad_token_id=engine.tokenizer.pad_token_id
            )
        raw_t.append(time.perf_counter() - started)
    raw_tokens = raw.shape[1] - enc["input_ids"].shape[1]
    # The full invoke path (LangChain callbacks, message conversion) on top of the engine.
    inv_t, inv_tokens = [], 0
    for _ in range(args.repeats):
        started = time.perf_counter()
        message = model.invoke(PROMPTS[0])
        inv_t.append(time.perf_counter() - started)
        inv_tokens = message.usage_metadata["output_tokens"]
    o, r, i = statistics.median(ours_t), statistics.median(raw_t), statistics.median(inv_t)
    per_raw, per_ours, per_inv = r / raw_tokens, o / ours[0].completion_tokens, i / inv_tokens
    print(
        f"raw model.generate: {r:.3f}s for {raw_tokens} tokens; engine: {o:.3f}s for "
        f"{ours[0].completion_tokens} tokens; full invoke: {i:.3f}s for {inv_tokens} tokens"
    )
    print(
        f"time per token vs raw generate: engine {per_ours / per_raw:.3f}x, "
        f"full invoke {per_inv / per_raw:.3f}x   (goal <= 1.05x)"
    )


if __name__ == "__main__":
    main()

"""DPO: train a local causal LM on preference pairs (prompt, chosen, rejected), as `judge --prefs` writes them.

Run:  recipes run dpo --data prefs.jsonl --out tuned-dpo                 (the embedded model; then --model hf:...)
      recipes run dpo --data prefs.jsonl --base hf:./tuned --out dpo --lora --plot loss.png --json

Direct Preference Optimization (TRL's DPOTrainer) is the short modern form of InstructGPT's last two steps: instead
of a reward model trained on the comparisons and then PPO against it, one loss raises the chosen answer's
likelihood over the rejected one's, relative to a frozen copy of the base (`--beta` sets how far it may move).
Prompts are rendered through the base model's chat template, as `--model hf:DIR` asks them later.
"""

from __future__ import annotations

import argparse
import time

from apps.training_common import add_training_arguments

__all__ = ["DEFAULT_LR", "add_arguments", "run"]

DEFAULT_LR = 5e-6  # DPO moves a tuned model a little; TRL's default (1e-6) barely moves it in tens of steps


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="preference pairs: .jsonl (or .json list) of {prompt, "
                        "chosen, rejected}")
    parser.add_argument("--beta", type=float, default=0.1, help="DPO's beta: how far from the base (default 0.1)")
    add_training_arguments(parser, lr=DEFAULT_LR, epochs=3, batch=2, accum=2)


def run(args: argparse.Namespace) -> int:
    from apps.training_common import (
        TrainingError,
        check_out_dir,
        completion_text,
        config_kwargs,
        load_base,
        lora_config,
        loss_recorder,
        prompt_text,
        report,
        save_trained,
        train,
    )
    from chains.preferences import load_preferences

    if args.beta <= 0:
        raise TrainingError("--beta must be > 0")
    out = check_out_dir(args.out, args.force)
    pairs = load_preferences(args.data)
    pairs = pairs[: args.limit] if args.limit else pairs
    started = time.monotonic()
    model, tokenizer, device = load_base(args)
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    rows = []
    for pair in pairs:
        prompt = prompt_text(tokenizer, pair.prompt)
        rows.append({"prompt": prompt, "chosen": completion_text(prompt, pair.chosen),
                     "rejected": completion_text(prompt, pair.rejected)})
    config = DPOConfig(**config_kwargs(args, device, DEFAULT_LR), beta=args.beta)
    recorder = loss_recorder("dpo")
    trainer = DPOTrainer(model=model, args=config, train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
                         peft_config=lora_config(args), callbacks=[recorder])
    train(trainer)
    last = recorder.logs[-1] if recorder.logs else {}
    extra = {k.split("/")[-1] + "_last": round(v, 4) for k, v in last.items()
             if k in ("rewards/accuracies", "rewards/margins")}
    save_trained(trainer, tokenizer, out, {"method": "dpo", "base": args.base, "data": str(args.data),
                                           "pairs": len(pairs), "beta": args.beta, "lora": args.lora,
                                           "losses": recorder.losses})
    return report(args, recorder, started, out, len(pairs), extra)

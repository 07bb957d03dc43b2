"""Finetune: supervised fine-tuning of a local causal LM on Alpaca-format tasks (GPT-1's and Alpaca's step).

Run:  recipes run finetune --data tasks.json --out tuned                  (the embedded model; then --model hf:tuned)
      recipes run finetune --data tasks.json --base hf:EleutherAI/gpt-neo-125m --out neo --lora --plot loss.png
      recipes run finetune --data tasks.json --base hf:./tiny --out DIR --max-steps 20 --json

Each task is rendered with the project's Alpaca prompt (its language's) as one user turn through the model's chat
template, exactly as `--model hf:DIR` asks it later; the loss counts the response tokens only (TRL's SFTTrainer,
prompt/completion rows). The saved folder holds the weights (LoRA merged), tokenizer and chat template.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from apps.training_common import add_training_arguments

__all__ = ["DEFAULT_LR", "add_arguments", "run", "sft_rows"]

DEFAULT_LR = 5e-5  # full fine-tuning of a 135M model on tens of tasks; Alpaca used 2e-5 on 7B and 52K tasks


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="Alpaca tasks: a JSON list or .jsonl of {instruction, input, "
                        "output} (a self-instruct output)")
    add_training_arguments(parser, lr=DEFAULT_LR, epochs=3, batch=2, accum=4)


def sft_rows(tasks: list[Any], tokenizer: Any) -> list[dict[str, str]]:
    """Prompt/completion rows: the chat-formatted Alpaca prompt, and the task's output to learn."""
    from apps.training_common import completion_text, prompt_text
    from chains.preferences import alpaca_prompt

    rows = []
    for task in tasks:
        prompt = prompt_text(tokenizer, alpaca_prompt(task.instruction, task.input))
        rows.append({"prompt": prompt, "completion": completion_text(prompt, task.output)})
    return rows


def run(args: argparse.Namespace) -> int:
    from apps.training_common import (
        TrainingError,
        check_out_dir,
        config_kwargs,
        load_base,
        lora_config,
        loss_recorder,
        report,
        save_trained,
        train,
    )
    from chains.self_instruct import load_tasks

    out = check_out_dir(args.out, args.force)
    tasks = load_tasks(args.data)[: args.limit] if args.limit else load_tasks(args.data)
    if not tasks:
        raise TrainingError(f"{args.data}: no tasks to train on")
    started = time.monotonic()
    model, tokenizer, device = load_base(args)
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    config = SFTConfig(**config_kwargs(args, device, DEFAULT_LR), completion_only_loss=True, packing=False)
    recorder = loss_recorder("finetune")
    trainer = SFTTrainer(model=model, args=config, train_dataset=Dataset.from_list(sft_rows(tasks, tokenizer)),
                         processing_class=tokenizer, peft_config=lora_config(args), callbacks=[recorder])
    train(trainer)
    save_trained(trainer, tokenizer, out, {"method": "sft", "base": args.base, "data": str(args.data),
                                           "examples": len(tasks), "lora": args.lora, "losses": recorder.losses})
    return report(args, recorder, started, out, len(tasks))

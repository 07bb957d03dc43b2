"""Finetune: supervised fine-tuning of a local causal LM on Alpaca-format tasks (GPT-1's and Alpaca's step).

Run:  recipes run finetune --data tasks.json --out tuned                  (the embedded model; then --model hf:tuned)
      recipes run finetune --data tasks.json --base hf:EleutherAI/gpt-neo-125m --out neo --lora --plot loss.png
      recipes run finetune --data tasks.json --base hf:./tiny --out DIR --max-steps 20 --json
      recipes run finetune --data tasks.json --out tuned --eval seeds         (response loss on held-out tasks)

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
    parser.add_argument("--eval", metavar="FILE", help="held-out tasks (a file like --data, or `seeds`: the "
                        "shipped seed tasks) whose response loss is measured before and after training")
    add_training_arguments(parser, lr=DEFAULT_LR, epochs=3, batch=2, accum=4)


def eval_tasks(source: str) -> list[Any]:
    """The --eval tasks: `seeds` (the shipped English and Korean seed tasks) or an Alpaca task file."""
    from chains.self_instruct import load_seed_tasks, load_tasks

    return load_seed_tasks() if source == "seeds" else load_tasks(source)


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
        completion_loss,
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
    held_out = eval_tasks(args.eval) if args.eval else []
    started = time.monotonic()
    model, tokenizer, device = load_base(args)
    # A small judge often carries no information (it picks the first answer shown); the response loss on tasks
    # the model never trained on is a second, cheap measure of what training did.
    eval_rows = sft_rows(held_out, tokenizer) if held_out else []
    before = completion_loss(model, tokenizer, eval_rows) if eval_rows else None
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    config = SFTConfig(**config_kwargs(args, device, DEFAULT_LR), completion_only_loss=True, packing=False)
    recorder = loss_recorder("finetune")
    trainer = SFTTrainer(model=model, args=config, train_dataset=Dataset.from_list(sft_rows(tasks, tokenizer)),
                         processing_class=tokenizer, peft_config=lora_config(args), callbacks=[recorder])
    train(trainer)
    extra = {}
    if before is not None:  # measured before saving: saving merges LoRA adapters into the weights
        extra = {"eval": args.eval, "eval_tasks": len(eval_rows), "eval_loss_before": round(before, 4),
                 "eval_loss_after": round(completion_loss(trainer.model, tokenizer, eval_rows), 4)}
    save_trained(trainer, tokenizer, out, {"method": "sft", "base": args.base, "data": str(args.data),
                                           "examples": len(tasks), "lora": args.lora, "losses": recorder.losses,
                                           **extra})
    return report(args, recorder, started, out, len(tasks), extra)

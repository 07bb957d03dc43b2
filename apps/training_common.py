"""What `finetune` and `dpo` share: options, the base model from a spec, chat-formatted prompts, a progress bar
with the loss, the loss curve, and saving a folder that ``hf:DIR`` loads. torch, transformers and TRL load lazily.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.errors import RecipesError

__all__ = [
    "OutputDirError",
    "TrainingError",
    "add_training_arguments",
    "check_out_dir",
    "completion_loss",
    "completion_text",
    "config_kwargs",
    "load_base",
    "lora_config",
    "loss_recorder",
    "prompt_text",
    "report",
    "save_loss_plot",
    "save_trained",
    "train",
]


class TrainingError(RecipesError, ValueError):
    """A base model spec that cannot be trained here, or options that do not fit together."""


class OutputDirError(RecipesError, FileExistsError):
    """--out names a folder that already holds files (pass --force to replace it)."""


def add_training_arguments(parser: argparse.ArgumentParser, *, lr: float, epochs: float, batch: int,
                           accum: int) -> None:
    """The options both trainers take; defaults that finish on a 2-core CPU (small batches, accumulation)."""
    parser.add_argument("--base", default="local", metavar="SPEC",
                        help="the model to train: local (embedded SmolLM2-135M, default) or hf:<dir or id>")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder to save the trained model in")
    parser.add_argument("--force", action="store_true", help="replace --out if it already holds files")
    parser.add_argument("--epochs", type=float, default=epochs, help=f"passes over the data (default {epochs:g})")
    parser.add_argument("--max-steps", type=int, help="stop after this many optimizer steps (overrides --epochs)")
    parser.add_argument("--batch-size", type=int, default=batch, help=f"examples per forward pass (default {batch})")
    parser.add_argument("--grad-accum", type=int, default=accum,
                        help=f"forward passes per optimizer step (default {accum}; step size = batch x this)")
    parser.add_argument("--lr", type=float, help=f"learning rate (default {lr:g}; with --lora 10x that)")
    parser.add_argument("--max-length", type=int, default=512, help="tokens per example, longer ones cut (512)")
    parser.add_argument("--lora", action="store_true", help="train LoRA adapters (peft), merged before saving")
    parser.add_argument("--lora-r", type=int, default=16, help="LoRA rank (default 16)")
    parser.add_argument("--limit", type=int, help="train on the first N examples only")
    parser.add_argument("--device", default="auto", help="auto (a GPU when present, else the CPU), cpu, cuda, mps")
    parser.add_argument("--threads", type=int, help="torch CPU threads (env RECIPES_THREADS)")
    parser.add_argument("--seed", type=int, default=0, help="seed for shuffling and initialising (default 0)")
    parser.add_argument("--plot", metavar="PNG", help="save the loss curve as a PNG")
    parser.add_argument("--json", action="store_true", help="print one JSON object: steps, losses, seconds, out")


def check_out_dir(path: str, force: bool) -> Path:
    """--out as a Path; a folder with files in it is refused unless `force` (checked before any training)."""
    out = Path(path).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not force:
        raise OutputDirError(f"{out} already exists and is not empty; pass --force to replace it")
    return out


def _source(spec: str) -> tuple[str, bool]:
    from llms.spec import parse_spec

    parsed = parse_spec(spec)
    if parsed.provider == "local":
        from llms.embedded import prepare_embedded

        return str(prepare_embedded()), True
    if parsed.provider == "hf":
        from llms.hub import resolve_source

        resolved = resolve_source(parsed.name)
        return resolved.name, resolved.local_only
    raise TrainingError(f"--base {spec!r}: only local models train here (local or hf:<dir or id>)")


def _quiet() -> None:
    # Our bar shows the steps and the loss; loading, dataset-mapping and shard-writing bars are noise around it.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import datasets
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()


def load_base(args: argparse.Namespace) -> tuple[Any, Any, str]:
    """The base model in float32, its tokenizer (a chat template and a pad token set) and the device to train on."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llms.engines.base import FALLBACK_CHAT_TEMPLATE
    from llms.engines.device import resolve_device
    from llms.options import default_threads

    _quiet()
    device = resolve_device(args.device)
    torch.set_num_threads(args.threads or default_threads())
    source, local_only = _source(args.base)
    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_only)
    # Base models (GPT-Neo) have none: train with the template `hf:` uses for them, and save it with the model.
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = FALLBACK_CHAT_TEMPLATE
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(source, local_files_only=local_only, dtype=torch.float32)
    return model, tokenizer, device


def prompt_text(tokenizer: Any, alpaca: str) -> str:
    """The Alpaca prompt as one user turn through the chat template, as `hf:` chat models are asked at inference."""
    from llms.engines.base import render_chat

    return render_chat(tokenizer, [{"role": "user", "content": alpaca}])


def completion_text(prompt: str, answer: str) -> str:
    """The answer as the model should continue `prompt` (a space after "Assistant:"-style prompts)."""
    return answer.strip() if not prompt or prompt[-1].isspace() else " " + answer.strip()


def config_kwargs(args: argparse.Namespace, device: str, default_lr: float) -> dict[str, Any]:
    """TrainingArguments both TRL configs take: no checkpoints, our progress bar, CPU or mixed precision."""
    import torch

    for name in ("batch_size", "grad_accum", "max_length", "lora_r"):
        if getattr(args, name) < 1:
            raise TrainingError(f"--{name.replace('_', '-')} must be >= 1")
    if args.max_steps is not None and args.max_steps < 1:
        raise TrainingError("--max-steps must be >= 1")
    lr = args.lr if args.lr is not None else default_lr * (10 if args.lora else 1)
    cuda = device.startswith("cuda")
    return {
        "output_dir": str(Path(args.out).expanduser()) + ".checkpoints",  # never written: save_strategy="no"
        "per_device_train_batch_size": args.batch_size,
        "gradient_accumulation_steps": args.grad_accum,
        "learning_rate": lr,
        "num_train_epochs": args.epochs,
        "max_steps": args.max_steps or -1,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "disable_tqdm": True,  # `loss_recorder` draws the bar, with the loss in it
        "activation_checkpointing": False,  # small models fit; recomputing would cost a third more time on a CPU
        "use_cpu": not cuda and device != "mps",
        "bf16": cuda and torch.cuda.is_bf16_supported(),
        "seed": args.seed,
        "max_length": args.max_length,
        "dataloader_pin_memory": cuda,
    }


def lora_config(args: argparse.Namespace) -> Any:
    """peft's LoraConfig for --lora (None without it): rank --lora-r on every linear layer, alpha 2r."""
    if not args.lora:
        return None
    from peft import LoraConfig

    # All linear layers: the names differ by architecture (GPT-Neo's q_proj/out_proj/c_fc, Llama's gate_proj...).
    return LoraConfig(r=args.lora_r, lora_alpha=2 * args.lora_r, lora_dropout=0.05, target_modules="all-linear",
                      task_type="CAUSAL_LM")


def loss_recorder(label: str) -> Any:
    """A TrainerCallback that keeps every logged loss (``.losses``: (step, loss)) and draws a rich progress bar
    with the latest loss on stderr (on a terminal)."""
    from transformers import TrainerCallback

    from apps.common import progress_bar

    class LossRecorder(TrainerCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.losses: list[tuple[int, float]] = []
            self.logs: list[dict[str, float]] = []
            self.bar: Any = None

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.bar = progress_bar(label, state.max_steps)
            if self.bar is not None:
                self.bar.start()

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
                   **kwargs: Any) -> None:
            if logs and "loss" in logs:
                self.losses.append((state.global_step, float(logs["loss"])))
                self.logs.append({k: float(v) for k, v in logs.items() if isinstance(v, int | float)})
            if self.bar is not None:
                loss = f"loss {self.losses[-1][1]:.3f}" if self.losses else ""
                self.bar.update(self.bar.task_ids[0], completed=state.global_step, description=f"{label} {loss}")

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if self.bar is not None:
                self.bar.stop()

    return LossRecorder()


def train(trainer: Any) -> None:
    """Run `trainer` with our bar only: transformers' printer writes every log dict to stdout, which --json owns."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    trainer.train()


def save_trained(trainer: Any, tokenizer: Any, out: Path, meta: dict[str, Any]) -> Path:
    """Save the trained model (LoRA merged into the weights) and tokenizer with its chat template to `out`, via a
    staging folder so a failed save never leaves half a model there; ``training.json`` records how it was made."""
    model = trainer.model
    if hasattr(model, "merge_and_unload"):  # a peft model: fold the adapters in so `hf:DIR` needs no peft
        model = model.merge_and_unload()
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    (staging / "training.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if out.is_file():  # --force over a file
        out.unlink()
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    shutil.rmtree(str(out) + ".checkpoints", ignore_errors=True)
    return out


def save_loss_plot(losses: Sequence[tuple[int, float]], path: str, title: str) -> None:
    """The loss per optimizer step as a PNG (matplotlib's Agg, no GUI)."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        from apps.judge import PlotUnavailableError

        raise PlotUnavailableError("--plot needs matplotlib: pip install 'chain-recipes[plot]'") from None
    fig = Figure(figsize=(6, 3.6), dpi=100)
    ax = fig.add_subplot()
    ax.plot([s for s, _ in losses], [v for _, v in losses], marker="." if len(losses) < 60 else None)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png")


def report(args: argparse.Namespace, recorder: Any, started: float, out: Path, examples: int,
           extra: dict[str, Any] | None = None) -> int:
    """Print the summary (one line, or JSON with --json), save --plot; returns the exit code."""
    losses = recorder.losses
    summary = {
        "out": str(out), "base": args.base, "examples": examples, "steps": losses[-1][0] if losses else 0,
        "first_loss": round(losses[0][1], 4) if losses else None,
        "last_loss": round(losses[-1][1], 4) if losses else None,
        "seconds": round(time.monotonic() - started, 1), "lora": args.lora, **(extra or {}),
    }
    if args.plot and losses:
        save_loss_plot(losses, args.plot, f"{Path(out).name}: {examples} examples from {args.base}")
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        print(f"trained {summary['steps']} steps on {examples} examples in {summary['seconds']} s: loss "
              f"{summary['first_loss']} -> {summary['last_loss']}; saved to {out} (load it with --model hf:{out})")
        if "eval_loss_before" in summary:
            print(f"held-out response loss ({summary['eval_tasks']} tasks): {summary['eval_loss_before']} -> "
                  f"{summary['eval_loss_after']}")
        if args.plot:
            print(f"loss curve: {args.plot}")
    if not losses:
        print("note: no optimizer step ran (no data?)", file=sys.stderr)
    return 0


def completion_loss(model: Any, tokenizer: Any, rows: Sequence[dict[str, str]]) -> float:
    """Mean loss over the completion tokens of prompt/completion `rows` (the prompt masked out), end token
    included: the number the trainers lower, measured apart from them."""
    import torch

    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for row in rows:
            prompt = tokenizer(row["prompt"], add_special_tokens=False)["input_ids"]
            whole = tokenizer(row["prompt"] + row["completion"] + tokenizer.eos_token,
                              add_special_tokens=False)["input_ids"]
            limit = getattr(model.config, "max_position_embeddings", None) or len(whole)
            ids = torch.tensor([whole[:limit]], device=model.device)  # the trainer cuts at --max-length too
            labels = ids.clone()
            labels[0, : len(prompt)] = -100
            n = int((labels[0, 1:] != -100).sum())
            total += float(model(input_ids=ids, labels=labels).loss) * n
            count += n
    return total / max(count, 1)

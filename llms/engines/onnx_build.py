"""Build an int4 onnxruntime-genai model from a Hugging Face folder, once, into the cache (atomic swap).

    python -m onnxruntime_genai.models.builder -i <hf dir> -o <out> -p int4 -e cpu

runs offline in a subprocess (~13 s and ~1.9 GB peak RAM for SmolLM2-135M; the builder needs torch,
transformers, ``onnx`` and ``onnx-ir``). The output goes to a staging folder next to the target and is renamed
into place only when complete, with a marker saying what it was built from; the source folder's tokenizer
files are copied over the builder's, so chat formatting and encoding match the transformers engine exactly.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from llms.errors import RecipesError

__all__ = [
    "BUILDER_ARCHITECTURES",
    "OnnxBuildError",
    "architecture_of",
    "build_int4",
    "builder_supports",
    "builder_version",
    "is_built",
    "missing_packages",
    "onnx_dir_for",
    "source_fingerprint",
]

MARKER = "built-from.json"
# Text-only causal LMs the 0.18 builder converts (its `create_model` dispatch); GPT-Neo is not among them.
BUILDER_ARCHITECTURES = frozenset({
    "ChatGLMModel",
    "Ernie4_5ForCausalLM",
    "GemmaForCausalLM",
    "Gemma2ForCausalLM",
    "Gemma3ForCausalLM",
    "GraniteForCausalLM",
    "InternLM2ForCausalLM",
    "LlamaForCausalLM",
    "MistralForCausalLM",
    "NemotronForCausalLM",
    "OlmoForCausalLM",
    "PhiForCausalLM",
    "Phi3ForCausalLM",
    "Qwen2ForCausalLM",
    "Qwen3ForCausalLM",
    "SmolLM3ForCausalLM",
})
# What the builder imports besides torch and transformers (onnx-ir is not declared by onnxruntime-genai).
_BUILDER_PACKAGES = {"onnxruntime_genai": "onnxruntime-genai", "onnx": "onnx", "onnx_ir": "onnx-ir"}
_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "chat_template.jinja",
    "chat_template.json",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
)
_BUILD_TIMEOUT_S = 1800


class OnnxBuildError(RecipesError, RuntimeError):
    """The int4 build could not be made (missing packages, unsupported architecture, or the builder failed)."""


def builder_version() -> str:
    """``onnxruntime-genai==<version>`` as installed: a build is redone when the runtime changes."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"onnxruntime-genai=={version('onnxruntime-genai')}"
    except PackageNotFoundError:
        return "onnxruntime-genai (not installed)"


def missing_packages() -> list[str]:
    """The pip names of builder/runtime packages that are not importable here (empty when all are)."""
    missing = []
    for module, package in _BUILDER_PACKAGES.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a module hidden as sys.modules[name] = None
            found = False
        if not found or (module in sys.modules and sys.modules[module] is None):
            missing.append(package)
    return missing


def architecture_of(hf_dir: Path) -> str | None:
    """The first entry of ``architectures`` in the folder's config.json (None if absent or unreadable)."""
    try:
        config = json.loads((hf_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    names = config.get("architectures") or []
    return str(names[0]) if names else None


def builder_supports(hf_dir: Path) -> bool:
    """Whether the onnxruntime-genai builder converts this folder's architecture."""
    return architecture_of(hf_dir) in BUILDER_ARCHITECTURES


def source_fingerprint(hf_dir: Path) -> str:
    """A cheap identity of a model folder's contents: its path and each file's name, size and mtime."""
    digest = hashlib.sha256(str(hf_dir.resolve()).encode())
    for path in sorted(p for p in hf_dir.iterdir() if p.is_file()):
        stat = path.stat()
        digest.update(f"\0{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def onnx_dir_for(hf_dir: Path, cache: Path) -> Path:
    """Where the int4 build of `hf_dir` lives under `cache`: keyed by the folder's name and resolved path."""
    key = hashlib.sha256(str(hf_dir.resolve()).encode()).hexdigest()[:12]
    return cache / "models" / "onnx-int4" / f"{hf_dir.resolve().name}-{key}"


def is_built(out_dir: Path, fingerprint: str) -> bool:
    """A complete build of the source with this fingerprint, by this builder version."""
    try:
        marker = json.loads((out_dir / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        marker.get("fingerprint") == fingerprint
        and marker.get("builder") == builder_version()
        and (out_dir / "genai_config.json").is_file()
        and (out_dir / "tokenizer.json").is_file()
    )


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.replace("\r", "\n").splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


def build_int4(
    hf_dir: Path,
    out_dir: Path,
    *,
    fingerprint: str | None = None,
    log: Callable[[str], None] = lambda _msg: None,
    timeout: float = _BUILD_TIMEOUT_S,
) -> Path:
    """Build `hf_dir` as an int4 CPU model into `out_dir` unless a build of the same source is already there.

    Raises `OnnxBuildError` (one line) when packages are missing, the architecture is not supported, or the
    builder fails; nothing half-built is left at `out_dir`.
    """
    hf_dir = hf_dir.resolve()
    fingerprint = fingerprint or source_fingerprint(hf_dir)
    if is_built(out_dir, fingerprint):
        return out_dir
    missing = missing_packages()
    if missing:
        raise OnnxBuildError(f"the int4 build needs {', '.join(missing)}; run: {sys.executable} -m pip install "
                             f"{' '.join(missing)}")
    arch = architecture_of(hf_dir)
    if arch not in BUILDER_ARCHITECTURES:
        raise OnnxBuildError(
            f"onnxruntime-genai cannot build {arch or 'this model'} ({hf_dir}); use engine='transformers'"
        )
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.with_name(f"{out_dir.name}.partial-{os.getpid()}")
    work = out_dir.with_name(f"{out_dir.name}.work-{os.getpid()}")
    for path in (staging, work):
        shutil.rmtree(path, ignore_errors=True)
    command = [
        sys.executable, "-m", "onnxruntime_genai.models.builder",
        "-i", str(hf_dir), "-o", str(staging), "-p", "int4", "-e", "cpu", "-c", str(work),
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TQDM_DISABLE": "1"}
    log(f"building the int4 ONNX model of {hf_dir.name} in {out_dir} (once, ~15 s)")
    started = time.monotonic()
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        shutil.rmtree(staging, ignore_errors=True)
        raise OnnxBuildError(f"the int4 build of {hf_dir.name} took over {timeout:.0f} s and was stopped") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if done.returncode != 0 or not (staging / "genai_config.json").is_file():
        shutil.rmtree(staging, ignore_errors=True)
        raise OnnxBuildError(
            f"the int4 build of {hf_dir.name} failed (exit {done.returncode}): {_last_line(done.stderr or done.stdout)}"
        )
    # Our tokenizer files, not the builder's re-save (it changes model_max_length, for one).
    for name in _TOKENIZER_FILES:
        if (hf_dir / name).is_file():
            shutil.copy2(hf_dir / name, staging / name)
    if not (staging / "tokenizer.json").is_file():
        shutil.rmtree(staging, ignore_errors=True)
        raise OnnxBuildError(f"{hf_dir} has no tokenizer.json; the onnxruntime engine needs a fast tokenizer")
    marker = {
        "source": str(hf_dir),
        "fingerprint": fingerprint,
        "architecture": arch,
        "precision": "int4",
        "execution_provider": "cpu",
        "builder": builder_version(),
        "seconds": round(time.monotonic() - started, 1),
    }
    (staging / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    # Swap in whole, so an interrupted build never leaves a half-written model that looks ready. If another
    # process finished the same build meanwhile, keep theirs.
    if is_built(out_dir, fingerprint):
        shutil.rmtree(staging, ignore_errors=True)
        return out_dir
    shutil.rmtree(out_dir, ignore_errors=True)
    staging.rename(out_dir)
    log(f"built in {marker['seconds']} s: {out_dir}")
    return out_dir

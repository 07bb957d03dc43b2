"""Device and precision for the transformers engine: bfloat16 on CPU here, float16 on CUDA where there is one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from pydantic import BaseModel, Field

from llms import load_llm, load_model
from llms.engines.device import DeviceNotAvailableError, resolve_device, resolve_dtype


class Pick(BaseModel):
    word: str = Field(max_length=6)
    n: int = Field(ge=0, le=9)


def test_bfloat16_weights_generate_and_constrain(tiny_gpt_neo_dir: Path) -> None:
    model = load_model(f"hf:{tiny_gpt_neo_dir}", dtype="bfloat16", max_new_tokens=60, temperature=1.0, seed=1)
    engine = model.engine  # type: ignore[attr-defined]
    assert engine.model.dtype == torch.bfloat16 and engine.capabilities.dtype == "bfloat16"
    assert all(p.dtype == torch.bfloat16 for p in engine.model.parameters())
    answer = model.invoke("Hello", max_new_tokens=6)
    assert answer.usage_metadata and answer.usage_metadata["output_tokens"] > 0
    picks = model.with_structured_output(Pick).batch(["a", "b", "c"])
    assert all(isinstance(p, Pick) for p in picks)
    # float32 stays the default on the CPU, and the two precisions are separate engines (cached per dtype).
    plain = load_llm(f"hf:{tiny_gpt_neo_dir}")
    assert plain.engine.model.dtype == torch.float32  # type: ignore[attr-defined]


def test_device_map_auto_loads_and_generates(tiny_gpt_neo_dir: Path) -> None:
    # For a model larger than one device; here accelerate places it all on the CPU.
    model = load_model(f"hf:{tiny_gpt_neo_dir}", device_map="auto", max_new_tokens=4)
    engine = model.engine  # type: ignore[attr-defined]
    assert engine is not load_model(f"hf:{tiny_gpt_neo_dir}").engine  # type: ignore[attr-defined]
    assert engine.model.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert model.invoke("Hi").usage_metadata["output_tokens"] >= 1  # type: ignore[index]
    with pytest.raises(ValueError, match="device_map"):
        load_model(f"hf:{tiny_gpt_neo_dir}", device_map="balanced")


def test_auto_choices_on_this_machine() -> None:
    expected = "cuda:0" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert resolve_device("auto") == expected
    assert resolve_dtype("auto", "cpu") == "float32" and resolve_dtype("auto", "mps") == "float16"
    assert resolve_dtype("bfloat16", "cpu") == "bfloat16"
    with pytest.raises(ValueError, match="dtype"):
        resolve_dtype("int3", "cpu")
    with pytest.raises(DeviceNotAvailableError, match="unknown device 'tpu'"):
        resolve_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_cuda_without_cuda_is_one_line(tiny_gpt_neo_dir: Path) -> None:
    with pytest.raises(DeviceNotAvailableError, match=r"device 'cuda' is not available here") as info:
        load_model(f"hf:{tiny_gpt_neo_dir}", device="cuda")
    assert "\n" not in str(info.value) and "--device cpu" in str(info.value)
    result = subprocess.run(
        [sys.executable, "-m", "apps.cli", "run", "perfect-day", "Paris", "--model", f"hf:{tiny_gpt_neo_dir}",
         "--device", "cuda:1", "--no-stream"],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[2],
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [lines[-1]] and lines[-1].startswith("error: device 'cuda:1' is not available here"), lines


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: no CUDA device on this machine")
def test_float16_on_cuda_with_structured_output(tiny_gpt_neo_dir: Path) -> None:
    model = load_model(f"hf:{tiny_gpt_neo_dir}", device="cuda", max_new_tokens=60, temperature=1.0, seed=3)
    engine = model.engine  # type: ignore[attr-defined]
    assert engine.model.device.type == "cuda" and engine.model.dtype in (torch.float16, torch.bfloat16)
    float16 = load_model(f"hf:{tiny_gpt_neo_dir}", device="cuda", dtype="float16", max_new_tokens=60,
                         temperature=1.0, seed=3)
    assert float16.engine.model.dtype == torch.float16  # type: ignore[attr-defined]
    picks = float16.with_structured_output(Pick).batch(["a"] * 8)
    assert all(isinstance(p, Pick) for p in picks)
    text = "".join(c.text for c in float16.bind(json_schema=Pick).stream("x"))
    assert Pick.model_validate(json.loads(text))

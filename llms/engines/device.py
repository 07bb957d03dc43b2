"""Pick the device and precision for the transformers engine: ``auto`` means CUDA, then MPS, then the CPU.

>>> resolve_dtype("auto", "cpu")
'float32'
"""

from __future__ import annotations

from llms.errors import RecipesError

__all__ = ["DEVICES", "DTYPES", "DeviceNotAvailableError", "available_devices", "resolve_device", "resolve_dtype"]

DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
DTYPES = ("auto", "float32", "bfloat16", "float16")


class DeviceNotAvailableError(RecipesError, ValueError):
    """A device was asked for that this machine (or this torch build) does not have."""


def available_devices() -> list[str]:
    """What torch can use here, best first: ``cuda:0 (NVIDIA ...)``, ``mps``, ``cpu``."""
    import torch

    found = [f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        found.append("mps")
    return [*found, "cpu"]


def resolve_device(device: str) -> str:
    """A concrete torch device string for `device`; a device that is not there is a one-line error naming it."""
    import torch

    name = (device or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return "cuda:0"
        return "mps" if torch.backends.mps.is_available() else "cpu"
    if name == "cpu":
        return "cpu"
    if name == "mps":
        if not torch.backends.mps.is_available():
            raise DeviceNotAvailableError("device 'mps' is not available here (no Apple GPU); use --device cpu or auto")
        return "mps"
    kind, _, index = name.partition(":")
    if kind != "cuda" or (index and not index.isdigit()):
        raise DeviceNotAvailableError(f"unknown device {device!r}; use one of {', '.join(DEVICES)}")
    if not torch.cuda.is_available():
        build = "a CPU-only torch build" if torch.version.cuda is None else "no CUDA GPU visible"
        raise DeviceNotAvailableError(
            f"device {device!r} is not available here ({build}, torch {torch.__version__}); use --device cpu or auto"
        )
    number = int(index or 0)
    if number >= torch.cuda.device_count():
        raise DeviceNotAvailableError(
            f"device {device!r} is not available here: {torch.cuda.device_count()} CUDA device(s) visible"
        )
    return f"cuda:{number}"


def resolve_dtype(dtype: str, device: str) -> str:
    """``auto`` is half precision on a GPU (bfloat16 where supported, else float16) and float32 on the CPU."""
    name = (dtype or "auto").strip().lower()
    if name not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPES)}")
    if name != "auto":
        return name
    if device.startswith("cuda"):
        import torch

        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return "float16" if device == "mps" else "float32"

"""Which engine runs a ``local`` or ``hf:`` spec, and loading it (cached per process).

- ``local``: onnxruntime-genai int4 by default (``engine="auto"``), built once into the cache next to the
  converted model. If onnxruntime-genai is missing or the build fails, one line on stderr (once per process)
  and the transformers engine. ``engine="transformers"`` always takes the transformers path.
- ``hf:``: the transformers engine, unless ``engine="onnxruntime"`` opts in; then the folder (or cached hub
  snapshot) must be an architecture the onnxruntime-genai builder supports, built into the cache on first use.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from llms.engines.base import Engine
from llms.errors import ModelNotAvailableError, OptionNotSupportedError
from llms.options import ModelOptions
from llms.spec import ModelSpec

__all__ = ["clear_caches", "load_engine", "local_engine_detail"]

# Sources whose onnxruntime path failed in this process (not retried: a failing build costs seconds each time).
_FAILED: dict[str, str] = {}
_NOTICE_LOCK = threading.Lock()
_notice_shown = False


def clear_caches() -> None:
    """Forget failed onnxruntime attempts, the once-per-process notice and loaded onnxruntime engines (tests)."""
    global _notice_shown
    from llms.engines.onnxruntime import load_onnx_engine

    with _NOTICE_LOCK:
        _FAILED.clear()
        _notice_shown = False
    load_onnx_engine.cache_clear()


def _notice(message: str) -> None:
    """One line on stderr, at most once per process."""
    global _notice_shown
    with _NOTICE_LOCK:
        if _notice_shown:
            return
        _notice_shown = True
    print(message, file=sys.stderr, flush=True)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _onnx_conflicts(opts: ModelOptions) -> list[str]:
    """Options set that the onnxruntime engine (int4 on the CPU) cannot honour."""
    conflicts = []
    if opts.device not in ("auto", "cpu"):
        conflicts.append(f"device={opts.device!r}")
    if opts.dtype not in ("auto", "int4"):
        conflicts.append(f"dtype={opts.dtype!r}")
    if opts.device_map is not None:
        conflicts.append(f"device_map={opts.device_map!r}")
    return conflicts


def _onnx_runtime_missing() -> str | None:
    try:
        import onnxruntime_genai  # noqa: F401
    except ImportError:
        return f"onnxruntime-genai is not installed ({sys.executable} -m pip install onnxruntime-genai==0.18.0)"
    return None


def _load_onnx(built: Path, threads: int | None) -> Engine:
    from llms.engines.onnxruntime import load_onnx_engine

    return load_onnx_engine(str(built), name=str(built), threads=threads)


def _embedded_onnx(opts: ModelOptions, required: bool) -> Engine | None:
    """The int4 engine for the embedded model; None (after one notice) when it cannot be had and not `required`."""
    from llms.embedded import embedded_onnx_dir, prepare_embedded
    from llms.engines.onnx_build import OnnxBuildError, build_int4

    source = prepare_embedded()  # a missing embedded model is an error on every engine: raise it as it is
    key = str(source)
    if key in _FAILED and not required:
        return None
    conflicts = _onnx_conflicts(opts)
    if conflicts:
        if required:
            raise OptionNotSupportedError(f"option {', '.join(conflicts)} is not supported by the onnxruntime "
                                          "engine (int4 on the CPU); use engine='transformers'")
        return None  # the user asked for a device or precision: the transformers engine provides it
    try:
        missing = _onnx_runtime_missing()
        if missing:
            raise OnnxBuildError(missing)
        return _load_onnx(build_int4(source, embedded_onnx_dir(), log=_stderr), opts.threads)
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if required:
            if isinstance(exc, OnnxBuildError):
                raise
            raise OnnxBuildError(f"the onnxruntime engine failed to load: {reason}") from exc
        _FAILED[key] = reason
        _notice(f"note: using the transformers engine for the embedded model: {reason}")
        return None


def _hf_folder(name: str, local_dir: str) -> Path:
    """The folder of an ``hf:`` spec: a local directory, or a hub id's snapshot in the Hugging Face cache."""
    path = Path(local_dir)
    if path.is_dir():
        return path
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, local_files_only=True))
    except Exception:
        raise ModelNotAvailableError(
            f"engine='onnxruntime' needs hf:{name} on this machine (a folder or the Hugging Face cache)"
        ) from None


def _hf_onnx(name: str, local_dir: str, opts: ModelOptions) -> Engine:
    """``hf:<folder>`` with ``engine="onnxruntime"``: build the folder's int4 model once (keyed by path and
    contents) and load it; every failure is an error naming the cause."""
    from llms.embedded import cache_root
    from llms.engines.onnx_build import (
        OnnxBuildError,
        architecture_of,
        build_int4,
        builder_supports,
        onnx_dir_for,
    )

    conflicts = _onnx_conflicts(opts)
    if conflicts:
        raise OptionNotSupportedError(f"option {', '.join(conflicts)} is not supported by the onnxruntime engine "
                                      "(int4 on the CPU); use engine='transformers'")
    folder = _hf_folder(name, local_dir)
    if not builder_supports(folder):
        arch = architecture_of(folder) or "an unknown architecture"
        raise OnnxBuildError(
            f"engine='onnxruntime' does not support {arch} (hf:{name}): onnxruntime-genai builds Llama-family and "
            "similar models only; use engine='transformers' (or 'auto')"
        )
    missing = _onnx_runtime_missing()
    if missing:
        raise OnnxBuildError(missing)
    return _load_onnx(build_int4(folder, onnx_dir_for(folder, cache_root()), log=_stderr), opts.threads)


def local_engine_detail() -> str:
    """Which engine ``local`` will use, in a few words for `recipes models` (cheap: loads nothing)."""
    from llms.embedded import embedded_onnx_ready
    from llms.engines.onnx_build import missing_packages

    if "onnxruntime-genai" in missing_packages():
        return "engine: transformers fp32 (onnxruntime-genai not installed)"
    if embedded_onnx_ready():
        return "engine: onnxruntime int4 (--engine transformers for fp32)"
    return "engine: onnxruntime int4, built on first use or by `recipes setup` (~15 s)"


def load_engine(spec: ModelSpec, opts: ModelOptions) -> Engine:
    """The engine for `spec` with `opts` (device, dtype, device_map, threads, engine choice)."""
    if spec.provider == "local":
        from llms.embedded import prepare_embedded

        if opts.engine != "transformers":
            engine = _embedded_onnx(opts, required=opts.engine == "onnxruntime")
            if engine is not None:
                return engine
        source, local_only = str(prepare_embedded()), True
    else:
        from llms.hub import resolve_source

        resolved = resolve_source(spec.name)
        if opts.engine == "onnxruntime":
            return _hf_onnx(spec.name, resolved.name, opts)
        source, local_only = resolved.name, resolved.local_only
    from llms.engines.transformers import load_transformers_engine  # imports torch: only on this path

    return load_transformers_engine(
        source,
        local_only=local_only,
        threads=opts.threads,
        device=opts.device,
        dtype=opts.dtype,
        device_map=opts.device_map,
    )

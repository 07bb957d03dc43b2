"""Engines run local generation for `llms.local`: the transformers engine (any causal LM) and, when installed,
onnxruntime-genai (the fast int4 path for the embedded model). Both satisfy `llms.engines.base.Engine`."""

from llms.engines.base import Capabilities, Completion, Engine, GenerationOptions, PromptTooLongError

__all__ = ["Capabilities", "Completion", "Engine", "GenerationOptions", "PromptTooLongError"]

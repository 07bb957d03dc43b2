"""Model wrappers behind one spec string: ``local`` (embedded default), ``hf:...``, ``openai:...``, ``fake:...``.

>>> from llms import load_model
>>> load_model("fake:Bonjour").invoke("Hello").content
'Bonjour'
"""

from llms.errors import ModelNotAvailableError, RecipesError, UnknownModelSpecError
from llms.fake import FakeChatModel, FakeLLM
from llms.options import ModelOptions, default_threads
from llms.registry import DEFAULT_SPEC, ModelSpec, describe_specs, load_llm, load_model, parse_spec

__all__ = [
    "DEFAULT_SPEC",
    "FakeChatModel",
    "FakeLLM",
    "ModelNotAvailableError",
    "ModelOptions",
    "ModelSpec",
    "RecipesError",
    "UnknownModelSpecError",
    "default_threads",
    "describe_specs",
    "load_llm",
    "load_model",
    "parse_spec",
]

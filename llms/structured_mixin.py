"""One `with_structured_output` for our chat models (fake, replay, local), routed by their capabilities."""

from __future__ import annotations

from typing import Any

__all__ = ["StructuredByCapabilities"]


class StructuredByCapabilities:
    """Mixin for our chat models: `with_structured_output` routed by what the model can do
    (`llms.structured.structured_output`: grammar decoding, JSON mode, or prompt + parse + bounded re-ask)."""

    def with_structured_output(
        self, schema: Any = None, *, include_raw: bool = False, method: str = "json_schema", **kwargs: Any
    ) -> Any:
        """Answers as `schema` (pydantic v2/v1 class, TypedDict, JSON-schema dict). method: "json_schema" (default;
        "grammar" and "function_calling" are aliases where there are no tools) or "json_mode" (any JSON object
        when no schema is given)."""
        from llms.structured import structured_output  # lazy: structured pulls in parsers and llguidance

        return structured_output(self, schema, include_raw=include_raw, method=method, **kwargs)  # type: ignore[arg-type]

"""Schemas the structured-output tests share: every part bounded, so even a random model closes the object."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Item(BaseModel):
    name: str = Field(max_length=8)
    qty: int = Field(ge=0, le=99)


class Order(BaseModel):
    """An object holding a list of objects, an enum, an integer and a string; every part bounded."""

    customer: str = Field(max_length=12)
    kind: Literal["pickup", "delivery"]
    items: list[Item] = Field(min_length=1, max_length=3)
    total: int = Field(ge=0, le=9999)


# Longest possible Order in tokens: a byte-level tokenizer spends at most 6 tokens on one character (an escape
# such as \u001f); 12*6 + 3*(8*6 + 20) + ~70 for keys and punctuation + end-of-sequence < 400.
ORDER_MAX_TOKENS = 400

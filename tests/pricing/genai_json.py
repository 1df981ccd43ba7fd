"""Write genai-prices' bundled providers back out in its published JSON format.

Tests use this to craft a price file for ``spendtap prices import`` from the snapshot
installed with genai-prices, instead of downloading one.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date, time
from decimal import Decimal
from typing import Any

from genai_prices.types import ModelPrice, Provider

_ALIASES = {"or_": "or", "and_": "and"}


def to_raw(value: Any) -> Any:
    """The JSON-ready form genai-prices' loader accepts for ``value``."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, ModelPrice):
        return {k: to_raw(v) for k, v in value.__dict__.items() if v is not None}
    if isinstance(value, date | time):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for field in dataclasses.fields(value):
            if field.name.startswith("_"):
                continue
            item = getattr(value, field.name)
            if item is None:
                continue
            out[_ALIASES.get(field.name, field.name)] = to_raw(item)
        return out
    if isinstance(value, list | tuple):
        return [to_raw(v) for v in value]
    if isinstance(value, dict):
        return {k: to_raw(v) for k, v in value.items()}
    return value


def providers_json(providers: list[Provider]) -> str:
    return json.dumps([to_raw(p) for p in providers])

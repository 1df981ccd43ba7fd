"""JSON with Decimals written as exact numbers (the stdlib would need floats).

Reports can hold thousands of rows, so the encoder dispatches on the exact type of
each value and writes strings with the stdlib's C string encoder; anything unusual
falls back to ``json.dumps``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from json.encoder import encode_basestring_ascii
from typing import Any

from starlette.responses import JSONResponse


def _decimal(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"{value} has no JSON number")
    return format(value, "f")


def _mapping(value: Mapping[Any, Any]) -> str:
    items = [
        encode_basestring_ascii(str(key)) + ":" + dumps_exact(item)
        for key, item in value.items()
    ]
    return "{" + ",".join(items) + "}"


def _sequence(value: Sequence[Any]) -> str:
    return "[" + ",".join([dumps_exact(item) for item in value]) + "]"


_BY_TYPE: dict[type, Callable[[Any], str]] = {
    str: encode_basestring_ascii,
    int: int.__repr__,
    bool: lambda value: "true" if value else "false",
    type(None): lambda value: "null",
    Decimal: _decimal,
    dict: _mapping,
    list: _sequence,
    tuple: _sequence,
}


def dumps_exact(value: object) -> str:
    """``value`` as compact JSON; a Decimal becomes a number with all its digits."""
    encode = _BY_TYPE.get(type(value))
    if encode is not None:
        return encode(value)
    if isinstance(value, Decimal):
        return _decimal(value)
    if isinstance(value, Mapping):
        return _mapping(value)
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return _sequence(value)
    return json.dumps(value)


class ExactJSONResponse(JSONResponse):
    """A JSONResponse (so the OpenAPI spec shows its model) with exact Decimals."""

    def render(self, content: Any) -> bytes:
        return dumps_exact(content).encode("utf-8")

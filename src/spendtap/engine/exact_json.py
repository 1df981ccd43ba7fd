"""JSON with Decimals written as exact numbers (the stdlib would need floats).

Reports can hold tens of thousands of rows, so orjson writes them, each Decimal
handed to it as a ready-made JSON number (``orjson.Fragment``). What orjson cannot
write (an integer past 64 bits) goes through the slower encoder below, which
dispatches on the exact type of each value.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from json.encoder import encode_basestring_ascii
from typing import Any

import orjson
from starlette.responses import JSONResponse

_OPTIONS = orjson.OPT_NON_STR_KEYS


def _decimal(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"{value} has no JSON number")
    return format(value, "f")


def _mapping(value: Mapping[Any, Any]) -> str:
    items = [
        encode_basestring_ascii(str(key)) + ":" + _dumps_slowly(item)
        for key, item in value.items()
    ]
    return "{" + ",".join(items) + "}"


def _sequence(value: Sequence[Any]) -> str:
    return "[" + ",".join([_dumps_slowly(item) for item in value]) + "]"


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


def exact_json_bytes(value: object) -> bytes:
    """``value`` as compact UTF-8 JSON; a Decimal becomes a number with all its
    digits, a non-finite one a ValueError."""
    try:
        return orjson.dumps(value, default=_fragment, option=_OPTIONS)
    except orjson.JSONEncodeError as exc:
        if isinstance(exc.__cause__, ValueError):
            raise exc.__cause__ from None
        return _dumps_slowly(value).encode("utf-8")


def dumps_exact(value: object) -> str:
    """``exact_json_bytes(value)`` as text."""
    return exact_json_bytes(value).decode("utf-8")


def _fragment(value: object) -> object:
    """What orjson writes in place of a type it does not know."""
    if isinstance(value, Decimal):
        return orjson.Fragment(_decimal(value))
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _dumps_slowly(value: object) -> str:
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
        return exact_json_bytes(content)

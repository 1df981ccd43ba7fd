"""JSON with Decimals written as exact numbers (the stdlib would need floats)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from starlette.responses import JSONResponse


def dumps_exact(value: object) -> str:
    """``value`` as compact JSON; a Decimal becomes a number with all its digits."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} has no JSON number")
        return format(value, "f")
    if isinstance(value, Mapping):
        items = (f"{json.dumps(str(k))}:{dumps_exact(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return "[" + ",".join(dumps_exact(v) for v in value) + "]"
    return json.dumps(value)


class ExactJSONResponse(JSONResponse):
    """A JSONResponse (so the OpenAPI spec shows its model) with exact Decimals."""

    def render(self, content: Any) -> bytes:
        return dumps_exact(content).encode("utf-8")

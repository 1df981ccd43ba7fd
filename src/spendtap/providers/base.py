"""The sans-IO interface every wire-format parser implements."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import urlsplit

from spendtap.event import Api, CallStatus, Usage, UsageSource

#: The most request body a parser will decode as JSON; larger bodies are skipped.
MAX_REQUEST_JSON_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """What a parser may know about the request. Header names are lower case.

    Headers can hold credentials: a parser reads only the ones it needs and never
    copies a header value into its result.
    """

    method: str
    host: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def path_only(self) -> str:
        return urlsplit(self.path).path

    @property
    def query(self) -> str:
        return urlsplit(self.path).query

    def json_body(self) -> dict[str, Any] | None:
        """The request body as a JSON object, or None when it is not one."""
        return parse_json_object(self.body, MAX_REQUEST_JSON_BYTES)


@dataclass(frozen=True, slots=True)
class ResponseHead:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()


@dataclass(frozen=True, slots=True)
class ParsedCall:
    """What a parser learned about one call. The collector adds context and price."""

    provider: str
    api: Api
    streaming: bool
    status: CallStatus
    usage: Usage
    usage_source: UsageSource
    model_requested: str | None = None
    model: str | None = None
    region: str | None = None
    http_status: int | None = None
    error_type: str | None = None
    response_id: str | None = None
    service_tier: str | None = None
    #: Cost the provider itself reported (OpenRouter), kept beside our list price.
    reported_cost_usd: Decimal | None = None
    #: False for calls that cost nothing by themselves (count_tokens).
    billable: bool = True


class ResponseReader(Protocol):
    """Consumes one response body, piece by piece, decoded (no content-encoding)."""

    def feed(self, data: bytes) -> None:
        """Take the next piece of the body. Never raises on odd input."""

    @property
    def content_started(self) -> bool:
        """True once the first piece of generated content has been seen (for TTFT)."""

    def finish(self, *, complete: bool) -> ParsedCall:
        """The call as parsed. ``complete`` is False when the connection broke."""


ReaderFactory = Callable[[RequestInfo, ResponseHead], ResponseReader]


@dataclass(frozen=True, slots=True)
class Route:
    """Which requests a wire-format parser handles, and who bills them.

    ``hosts`` are exact host names (lower case); ``host_suffixes`` match the end of a
    name (``.openai.azure.com``). ``path`` is matched against the path without query.
    """

    name: str
    provider: str
    api: Api
    path: Callable[[str], bool]
    reader: ReaderFactory
    hosts: frozenset[str] = frozenset()
    host_suffixes: tuple[str, ...] = ()
    methods: frozenset[str] = frozenset({"POST"})

    def matches(self, request: RequestInfo) -> bool:
        host = request.host.lower()
        host_ok = host in self.hosts or host.endswith(self.host_suffixes or ("\0",))
        return (
            host_ok
            and request.method.upper() in self.methods
            and self.path(request.path_only)
        )


def parse_json_object(data: bytes, limit: int) -> dict[str, Any] | None:
    """Decode ``data`` as a JSON object; None for anything else or over ``limit``."""
    if not data or len(data) > limit:
        return None
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def as_count(value: object) -> int | None:
    """A token count from JSON: a non-negative int, or None (bools and junk too)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value

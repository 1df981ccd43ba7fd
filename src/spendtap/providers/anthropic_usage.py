"""Anthropic usage objects as normalised token counts.

The same object comes from the Messages API directly, on Vertex and in Bedrock invoke
bodies. ``input_tokens`` already excludes the cache; reads and writes are separate
fields, and writes are split by TTL in ``cache_creation`` when the API gives the split
(without it, every write is a 5-minute write). A stream reports usage in
``message_start`` and then running totals in ``message_delta``: for every field the
last value seen wins, never a sum.

With server-side compaction the top-level counts cover only the final sampling step;
``iterations`` lists every step, compaction included, and the call is billed for the
sum of them, so when ``iterations`` is present the counts are its sum.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from spendtap.event import Usage
from spendtap.providers.base import as_count
from spendtap.providers.framing import as_object, as_text

#: The usage fields a running total keeps; anything else is ignored.
USAGE_FIELDS = (
    "input_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cache_creation",
    "output_tokens",
    "output_tokens_details",
    "server_tool_use",
    "service_tier",
    "inference_geo",
    "iterations",
)

#: ``inference_geo`` when the request named no geography.
_NO_GEO = "not_available"


class RunningUsage:
    """The usage of one message as a stream revises it: the last value wins."""

    def __init__(self) -> None:
        self._fields: dict[str, object] = {}

    @property
    def seen(self) -> bool:
        return bool(self._fields)

    def update(self, raw: Mapping[str, Any]) -> None:
        for name in USAGE_FIELDS:
            value = raw.get(name)
            if value is not None:
                self._fields[name] = value

    def usage(self) -> Usage:
        return anthropic_usage(self._fields)

    @property
    def service_tier(self) -> str | None:
        return as_text(self._fields.get("service_tier"))

    @property
    def region(self) -> str | None:
        return usage_region(self._fields)


def anthropic_usage(raw: Mapping[str, Any]) -> Usage:
    """One Anthropic ``usage`` object, normalised (iterations summed when present)."""
    steps: list[Mapping[str, Any]] = [
        i for i in _as_list(raw.get("iterations")) if isinstance(i, dict)
    ]
    parts = [_step_usage(step) for step in steps or [raw]]
    server_tools = as_object(raw.get("server_tool_use"))

    return Usage(
        input_tokens=_sum(p.input_tokens for p in parts),
        cache_read_tokens=_sum(p.cache_read_tokens for p in parts),
        cache_write_5m_tokens=_sum(p.cache_write_5m_tokens for p in parts),
        cache_write_1h_tokens=_sum(p.cache_write_1h_tokens for p in parts),
        output_tokens=_sum(p.output_tokens for p in parts),
        reasoning_tokens=_sum(p.reasoning_tokens for p in parts),
        web_search_requests=as_count(server_tools.get("web_search_requests")),
    )


def usage_region(raw: Mapping[str, Any]) -> str | None:
    """``inference_geo`` (``global``, ``us``), which can change the price."""
    geo = as_text(raw.get("inference_geo"))
    return None if geo == _NO_GEO else geo


def _step_usage(raw: Mapping[str, Any]) -> Usage:
    five_minute, one_hour = _cache_writes(raw)
    details = as_object(raw.get("output_tokens_details"))
    return Usage(
        input_tokens=as_count(raw.get("input_tokens")),
        cache_read_tokens=as_count(raw.get("cache_read_input_tokens")),
        cache_write_5m_tokens=five_minute,
        cache_write_1h_tokens=one_hour,
        output_tokens=as_count(raw.get("output_tokens")),
        reasoning_tokens=as_count(details.get("thinking_tokens")),
    )


def _cache_writes(raw: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """(5-minute, 1-hour) cache writes; without a TTL split every write is 5-minute."""
    total = as_count(raw.get("cache_creation_input_tokens"))
    split = as_object(raw.get("cache_creation"))
    five_minute = as_count(split.get("ephemeral_5m_input_tokens"))
    one_hour = as_count(split.get("ephemeral_1h_input_tokens"))
    if five_minute is None and one_hour is None:
        return total, None
    if total is None or (five_minute or 0) + (one_hour or 0) == total:
        return five_minute, one_hour
    # A partial split, or one left over from message_start after message_delta
    # revised the total: the total wins, and the 1-hour part is kept as far as it fits.
    one_hour = min(one_hour or 0, total)
    return total - one_hour, one_hour


def _sum(values: Iterable[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []

"""Gemini ``usageMetadata`` as normalised token counts (Gemini API and Vertex).

- ``promptTokenCount`` includes the cached part (``cachedContentTokenCount``): input
  is the prompt less the cache, and the cache is a read.
- ``toolUsePromptTokenCount`` (prompts of server-side tools such as search) is not in
  the prompt count and is billed as input.
- ``thoughtsTokenCount`` is not in ``candidatesTokenCount``: output is the sum, and
  the thoughts are the reasoning part (cases R02-R04: the sum whenever thoughts are
  given, however the provider counted them at the time).
- A stream repeats cumulative snapshots: each field's last value wins, never a sum.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from spendtap.event import Usage
from spendtap.providers.base import as_count
from spendtap.providers.framing import as_text

USAGE_FIELDS = (
    "promptTokenCount",
    "cachedContentTokenCount",
    "toolUsePromptTokenCount",
    "candidatesTokenCount",
    "thoughtsTokenCount",
    "serviceTier",
    "trafficType",
)

#: Vertex ``trafficType`` values as service tiers; others are kept in lower case.
_TRAFFIC_TIERS = {
    "ON_DEMAND": "standard",
    "ON_DEMAND_FLEX": "flex",
    "ON_DEMAND_PRIORITY": "priority",
}


class RunningUsageMetadata:
    """The usage of a streamed answer as its snapshots arrive: the last value wins."""

    def __init__(self) -> None:
        self._fields: dict[str, object] = {}

    def update(self, raw: Mapping[str, Any]) -> None:
        for name in USAGE_FIELDS:
            value = raw.get(name)
            if value is not None:
                self._fields[name] = value

    def usage(self) -> Usage:
        return gemini_usage(self._fields)

    @property
    def service_tier(self) -> str | None:
        return service_tier(self._fields)


def gemini_usage(raw: Mapping[str, Any]) -> Usage:
    """One ``usageMetadata`` object, normalised."""
    prompt = as_count(raw.get("promptTokenCount"))
    cached = as_count(raw.get("cachedContentTokenCount"))
    tool_prompt = as_count(raw.get("toolUsePromptTokenCount"))
    candidates = as_count(raw.get("candidatesTokenCount"))
    thoughts = as_count(raw.get("thoughtsTokenCount"))

    uncached = None if prompt is None else max(prompt - (cached or 0), 0)
    return Usage(
        input_tokens=_sum([uncached, tool_prompt]),
        cache_read_tokens=cached,
        output_tokens=_sum([candidates, thoughts]),
        reasoning_tokens=thoughts,
    )


def service_tier(raw: Mapping[str, Any]) -> str | None:
    """``serviceTier`` (Gemini API), else Vertex's ``trafficType`` as a tier."""
    tier = as_text(raw.get("serviceTier"))
    if tier is not None:
        return tier.lower()
    traffic = as_text(raw.get("trafficType"))
    if traffic is None:
        return None
    return _TRAFFIC_TIERS.get(traffic, traffic.lower())


def _sum(values: Iterable[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None

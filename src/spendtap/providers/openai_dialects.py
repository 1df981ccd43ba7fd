"""How OpenAI-compatible hosts depart from OpenAI's own usage objects.

Each host speaks OpenAI's Chat Completions (and some the Responses API) and keeps
OpenAI's conventions: the prompt total includes cached tokens and the completion total
includes reasoning. The departures, one flag each:

- Groq puts a stream's usage in ``x_groq.usage`` (newer streams also at the top).
- DeepSeek reports cache hits as ``prompt_cache_hit_tokens`` (newer bodies also as
  ``prompt_tokens_details.cached_tokens``).
- OpenRouter reports what it charged in ``usage.cost`` (USD), and its server-side web
  searches in ``server_tool_use_details`` (or ``server_tool_use``). With a customer's
  own provider key (``is_byok``) ``cost`` is only OpenRouter's fee and the provider's
  own charge is ``cost_details.upstream_inference_cost``: both are spend.
- xAI has reported reasoning tokens outside the completion total (the total then is
  prompt + completion + reasoning) and later inside it, as OpenAI does. The total
  tells which: when it equals prompt + completion + reasoning, reasoning is added to
  the output.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from spendtap.event import Usage
from spendtap.providers.base import as_count
from spendtap.providers.framing import as_object
from spendtap.providers.openai_usage import (
    CHAT_COMPLETIONS,
    UsageNames,
    normalise_usage,
)


@dataclass(frozen=True, slots=True)
class Dialect:
    """One host's departures from OpenAI's usage object (see the module docstring)."""

    name: str
    #: Where a chunk or body keeps its usage object, first found wins.
    usage_paths: tuple[tuple[str, ...], ...] = (("usage",),)
    #: A usage field holding cache hits when ``cached_tokens`` is absent.
    cache_hit_field: str | None = None
    #: ``(object, field)`` pairs in usage that count web searches billed per request.
    web_search_fields: tuple[tuple[str, str], ...] = ()
    reports_cost: bool = False
    reasoning_may_be_outside: bool = False


OPENAI = Dialect("openai")
GROQ = Dialect("groq", usage_paths=(("usage",), ("x_groq", "usage")))
DEEPSEEK = Dialect("deepseek", cache_hit_field="prompt_cache_hit_tokens")
OPENROUTER = Dialect(
    "openrouter",
    web_search_fields=(
        ("server_tool_use_details", "web_search_requests"),
        ("server_tool_use", "web_search_requests"),
    ),
    reports_cost=True,
)
XAI = Dialect("x_ai", reasoning_may_be_outside=True)


def find_usage(dialect: Dialect, document: Mapping[str, Any]) -> dict[str, Any] | None:
    """The usage object of a chunk or body, or None when it carries none."""
    for path in dialect.usage_paths:
        value: object = document
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, dict) and value:
            return value
    return None


def dialect_usage(
    dialect: Dialect, raw: Mapping[str, Any], names: UsageNames = CHAT_COMPLETIONS
) -> Usage:
    """A usage object from ``dialect``'s host, normalised as DESIGN.md says."""
    usage = normalise_usage(_with_cache_hits(dialect, raw, names), names)
    if dialect.reasoning_may_be_outside and _reasoning_outside(raw, names, usage):
        assert usage.output_tokens is not None and usage.reasoning_tokens is not None
        usage = dataclasses.replace(
            usage, output_tokens=usage.output_tokens + usage.reasoning_tokens
        )
    searches = _web_searches(dialect, raw)
    if searches is not None:
        usage = dataclasses.replace(usage, web_search_requests=searches)
    return usage


def reported_cost(dialect: Dialect, raw: Mapping[str, Any]) -> Decimal | None:
    """What the host said it charged for the call, in USD, or None."""
    if not dialect.reports_cost:
        return None
    cost = _money(raw.get("cost"))
    if cost is None or raw.get("is_byok") is not True:
        return cost
    upstream = _money(as_object(raw.get("cost_details")).get("upstream_inference_cost"))
    return cost + (upstream or Decimal(0))


def _with_cache_hits(
    dialect: Dialect, raw: Mapping[str, Any], names: UsageNames
) -> Mapping[str, Any]:
    if dialect.cache_hit_field is None:
        return raw
    details = as_object(raw.get(names.prompt_details))
    hits = as_count(raw.get(dialect.cache_hit_field))
    if hits is None or as_count(details.get("cached_tokens")) is not None:
        return raw
    return {**raw, names.prompt_details: {**details, "cached_tokens": hits}}


def _reasoning_outside(raw: Mapping[str, Any], names: UsageNames, usage: Usage) -> bool:
    prompt = as_count(raw.get(names.prompt))
    total = as_count(raw.get("total_tokens"))
    reasoning = usage.reasoning_tokens
    output = usage.output_tokens
    if None in (prompt, total, reasoning, output) or not reasoning:
        return False
    assert prompt is not None and output is not None
    return total == prompt + output + reasoning


def _web_searches(dialect: Dialect, raw: Mapping[str, Any]) -> int | None:
    for container, name in dialect.web_search_fields:
        count = as_count(as_object(raw.get(container)).get(name))
        if count is not None:
            return count
    return None


def _money(value: object) -> Decimal | None:
    """A JSON number as exact decimal USD (floats by their shortest repr)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        return None
    return amount if amount.is_finite() and amount >= 0 else None

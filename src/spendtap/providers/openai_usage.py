"""OpenAI usage objects (Chat Completions and Responses) as normalised token counts.

OpenAI counts the prompt tokens read from the cache, and those written to it, inside
the prompt total, and reasoning tokens inside the completion total (DESIGN.md,
"Normalising usage"). So ``input_tokens`` is the prompt total less both cache parts,
and ``output_tokens`` is the completion total as given.

Cache writes (``cache_write_tokens``, explicit prompt caching from GPT-5.6 on, billed
above the input rate) go to ``cache_write_5m_tokens``: the usage event has one bucket
for a provider's standard cache write and one for Anthropic's 1-hour write.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from spendtap.event import Usage
from spendtap.providers.base import as_count
from spendtap.providers.framing import as_object

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class UsageNames:
    """Where one OpenAI API puts its totals and their breakdowns."""

    prompt: str
    prompt_details: str
    completion: str
    completion_details: str


CHAT_COMPLETIONS = UsageNames(
    "prompt_tokens",
    "prompt_tokens_details",
    "completion_tokens",
    "completion_tokens_details",
)
RESPONSES = UsageNames(
    "input_tokens",
    "input_tokens_details",
    "output_tokens",
    "output_tokens_details",
)


def chat_usage(raw: Mapping[str, Any]) -> Usage:
    """A Chat Completions ``usage`` object, normalised."""
    return normalise_usage(raw, CHAT_COMPLETIONS)


def responses_usage(raw: Mapping[str, Any]) -> Usage:
    """A Responses API ``usage`` object, normalised."""
    return normalise_usage(raw, RESPONSES)


def normalise_usage(raw: Mapping[str, Any], names: UsageNames) -> Usage:
    prompt_details = as_object(raw.get(names.prompt_details))
    completion_details = as_object(raw.get(names.completion_details))
    cache_read = as_count(prompt_details.get("cached_tokens"))
    cache_write = as_count(prompt_details.get("cache_write_tokens"))

    return Usage(
        input_tokens=_uncached(
            as_count(raw.get(names.prompt)), cache_read, cache_write
        ),
        cache_read_tokens=cache_read,
        cache_write_5m_tokens=cache_write,
        output_tokens=as_count(raw.get(names.completion)),
        reasoning_tokens=as_count(completion_details.get("reasoning_tokens")),
    )


def _uncached(prompt: int | None, read: int | None, written: int | None) -> int | None:
    if prompt is None:
        return None
    uncached = prompt - (read or 0) - (written or 0)
    if uncached < 0:
        log.warning(
            "providers.openai.usage_inconsistent prompt=%d cache_read=%s "
            "cache_write=%s",
            prompt,
            read,
            written,
        )
        return None
    return uncached

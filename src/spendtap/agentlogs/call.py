"""One AI call as an agent's own records describe it, before context and price.

Every log format and the OTLP receiver turn what they read into ``AgentCall``
records; ``events.EventFactory`` adds the laptop's context and the list price and
makes the usage event. ``key`` is the call's identity within its capture source:
the event id is derived from it, so reading the same record again gives the same
event id and re-importing never counts a call twice.

``AgentCall`` is an immutable ``NamedTuple`` rather than a frozen dataclass: a
backfill makes one per call, tens of thousands a second, and a 25-field frozen
dataclass costs about eight times as much to build.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from spendtap.event import Api, CallStatus, CaptureSource, Usage


class AgentCall(NamedTuple):
    source: CaptureSource
    key: tuple[str, ...]
    agent: str
    provider: str
    api: Api
    model: str | None
    #: Token counts, normalised as the usage event's (None where the log is silent).
    input_tokens: int | None
    cache_read_tokens: int | None
    cache_write_5m_tokens: int | None
    cache_write_1h_tokens: int | None
    output_tokens: int | None
    reasoning_tokens: int | None
    web_search_requests: int | None
    started_at: datetime
    ended_at: datetime | None = None
    duration_ms: int | None = None
    request_id: str | None = None
    response_id: str | None = None
    session_id: str | None = None
    agent_version: str | None = None
    #: Working directory of the agent when it made the call.
    cwd: str | None = None
    branch: str | None = None
    commit: str | None = None
    #: The git remote URL the record names (normalised later, credentials dropped).
    remote: str | None = None
    #: An identity the record itself names (an account email), if any.
    user: str | None = None
    service_tier: str | None = None
    region: str | None = None
    #: What the agent itself said the call cost, kept beside our list price.
    agent_cost_usd: Decimal | None = None
    streaming: bool = True
    status: CallStatus = CallStatus.OK
    #: ``started_at`` and ``ended_at`` exactly as the event writes them, when the
    #: log already wrote them so (saves formatting them again in a backfill).
    started_text: str | None = None
    ended_text: str | None = None

    @property
    def usage(self) -> Usage:
        return Usage(
            input_tokens=self.input_tokens,
            cache_read_tokens=self.cache_read_tokens,
            cache_write_5m_tokens=self.cache_write_5m_tokens,
            cache_write_1h_tokens=self.cache_write_1h_tokens,
            output_tokens=self.output_tokens,
            reasoning_tokens=self.reasoning_tokens,
            web_search_requests=self.web_search_requests,
        )

    @property
    def usage_is_empty(self) -> bool:
        return (
            self.input_tokens is None
            and self.output_tokens is None
            and self.cache_read_tokens is None
            and self.cache_write_5m_tokens is None
            and self.cache_write_1h_tokens is None
            and self.reasoning_tokens is None
            and self.web_search_requests is None
        )


#: The seven token counts in ``Usage`` field order.
Counts = tuple[
    int | None, int | None, int | None, int | None, int | None, int | None, int | None
]


def usage_counts(usage: Usage) -> Counts:
    """``usage`` as the seven counts ``AgentCall`` takes after ``model``."""
    return (
        usage.input_tokens,
        usage.cache_read_tokens,
        usage.cache_write_5m_tokens,
        usage.cache_write_1h_tokens,
        usage.output_tokens,
        usage.reasoning_tokens,
        usage.web_search_requests,
    )

"""Rollup arithmetic: which bucket an event falls in and the sums kept per bucket.

Sums are null-aware: a token total over calls that all reported null stays null (the
wire never said), while one known count makes the total a number. Cost follows the
same rule, and ``unpriced_calls`` counts the calls whose cost is null.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from spendtap.engine.money import usd_to_nanos
from spendtap.engine.timestamps import hour_start, parse_rfc3339
from spendtap.event import TOKEN_FIELDS, UsageEvent


class Dimension(enum.StrEnum):
    """What a report can group by; each is a usage event field of the same name."""

    MODEL = "model"
    PROVIDER = "provider"
    AGENT = "agent"
    USER = "user"
    REPO = "repo"
    TICKET = "ticket"


DIMENSIONS: tuple[Dimension, ...] = tuple(Dimension)
#: How a missing (null or empty) dimension value is keyed in the rollup table.
NO_VALUE = ""
NULLABLE_MEASURES: tuple[str, ...] = (*TOKEN_FIELDS, "cost_nanos")
MEASURES: tuple[str, ...] = ("calls", *NULLABLE_MEASURES, "unpriced_calls")


def add_nullable(a: int | None, b: int | None) -> int | None:
    """``a + b`` where null means unknown: null only when both are."""
    if a is None:
        return b
    if b is None:
        return a
    return a + b


@dataclass(frozen=True, slots=True)
class Measures:
    """The sums kept per rollup bucket (and returned per report row)."""

    calls: int = 0
    input_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_5m_tokens: int | None = None
    cache_write_1h_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    web_search_requests: int | None = None
    cost_nanos: int | None = None
    unpriced_calls: int = 0

    @classmethod
    def of_event(cls, event: UsageEvent) -> Measures:
        cost = event.cost_usd
        return cls(
            calls=1,
            input_tokens=event.input_tokens,
            cache_read_tokens=event.cache_read_tokens,
            cache_write_5m_tokens=event.cache_write_5m_tokens,
            cache_write_1h_tokens=event.cache_write_1h_tokens,
            output_tokens=event.output_tokens,
            reasoning_tokens=event.reasoning_tokens,
            web_search_requests=event.web_search_requests,
            cost_nanos=None if cost is None else usd_to_nanos(cost),
            unpriced_calls=1 if cost is None else 0,
        )

    @classmethod
    def of_sums(cls, sums: Mapping[str, int | None]) -> Measures:
        """Measures from a mapping with every name in MEASURES (a rollup row)."""
        return cls(
            calls=sums["calls"] or 0,
            input_tokens=sums["input_tokens"],
            cache_read_tokens=sums["cache_read_tokens"],
            cache_write_5m_tokens=sums["cache_write_5m_tokens"],
            cache_write_1h_tokens=sums["cache_write_1h_tokens"],
            output_tokens=sums["output_tokens"],
            reasoning_tokens=sums["reasoning_tokens"],
            web_search_requests=sums["web_search_requests"],
            cost_nanos=sums["cost_nanos"],
            unpriced_calls=sums["unpriced_calls"] or 0,
        )

    def plus(self, other: Measures) -> Measures:
        return Measures(
            calls=self.calls + other.calls,
            input_tokens=add_nullable(self.input_tokens, other.input_tokens),
            cache_read_tokens=add_nullable(
                self.cache_read_tokens, other.cache_read_tokens
            ),
            cache_write_5m_tokens=add_nullable(
                self.cache_write_5m_tokens, other.cache_write_5m_tokens
            ),
            cache_write_1h_tokens=add_nullable(
                self.cache_write_1h_tokens, other.cache_write_1h_tokens
            ),
            output_tokens=add_nullable(self.output_tokens, other.output_tokens),
            reasoning_tokens=add_nullable(
                self.reasoning_tokens, other.reasoning_tokens
            ),
            web_search_requests=add_nullable(
                self.web_search_requests, other.web_search_requests
            ),
            cost_nanos=add_nullable(self.cost_nanos, other.cost_nanos),
            unpriced_calls=self.unpriced_calls + other.unpriced_calls,
        )

    def as_row(self) -> dict[str, int | None]:
        return {name: getattr(self, name) for name in MEASURES}


@dataclass(frozen=True, slots=True, order=True)
class RollupKey:
    """One rollup bucket: a UTC hour and a value (or NO_VALUE) per dimension."""

    hour_start: int
    model: str
    provider: str
    agent: str
    user: str
    repo: str
    ticket: str

    @classmethod
    def of_event(cls, event: UsageEvent) -> RollupKey:
        return cls(
            hour_start=hour_start(parse_rfc3339(event.started_at)),
            model=event.model or NO_VALUE,
            provider=event.provider or NO_VALUE,
            agent=event.agent or NO_VALUE,
            user=event.user or NO_VALUE,
            repo=event.repo or NO_VALUE,
            ticket=event.ticket or NO_VALUE,
        )

    def as_row(self) -> dict[str, int | str]:
        row: dict[str, int | str] = {"hour_start": self.hour_start}
        row.update({d.value: getattr(self, d.value) for d in DIMENSIONS})
        return row


def rollup_deltas(events: Iterable[UsageEvent]) -> dict[RollupKey, Measures]:
    """What ``events`` add to each rollup bucket they fall in."""
    deltas: dict[RollupKey, Measures] = {}
    for event in events:
        key = RollupKey.of_event(event)
        deltas[key] = deltas.get(key, Measures()).plus(Measures.of_event(event))
    return deltas

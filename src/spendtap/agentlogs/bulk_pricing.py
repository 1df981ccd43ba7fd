"""``Pricer.price`` for a backfill's tens of thousands of calls.

``Pricer.price`` resolves the model and finds its rate card on every call, and
builds a few small records doing it; a backfill prices the same few models
thousands of times a day. ``BulkPricer`` asks the pricer for the quote (model and
rate card) once per kind of call per minute of the call's time (rates can change
within a day, never within a minute), then prices each call on the card the way
the pricer does: the prompt size picks the band, the cost is the band's per-call
amount plus rate times count for each count, and the price reference names the
rules the call's non-zero counts used. Anything out of the ordinary (no model, no
price, a reasoning count above the output) goes to the pricer itself, which warns.
A test holds the two to the same result on random usage.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from spendtap.event import CostStatus, Usage
from spendtap.pricing import Price, Pricer, Quote
from spendtap.pricing.rates import COUNT_FIELDS, Counts

#: Quotes kept; past it the cache starts over.
QUOTE_CACHE_SIZE = 8192
#: The count order ``Rates.per_unit`` follows; checked against the pricer's own.
_FIELDS = (
    "input",
    "cache_read",
    "cache_write_5m",
    "cache_write_1h",
    "output",
    "reasoning",
    "web_search",
)
if COUNT_FIELDS != _FIELDS:  # pragma: no cover - a pricing change must come here too
    raise ImportError(
        f"pricing count fields changed to {COUNT_FIELDS}; update {__name__}"
    )

#: (cost, status, price_ref): a price without building a ``Price``.
Priced = tuple[Decimal | None, CostStatus, str | None]
UNPRICED: Priced = (None, CostStatus.UNPRICED, None)


class BulkPricer:
    """Prices calls through ``pricer``; not thread-safe (one per import)."""

    def __init__(self, pricer: Pricer) -> None:
        self.pricer = pricer
        self._quotes: dict[tuple[object, ...], Quote | None] = {}
        self._refs: dict[tuple[int, int, tuple[bool, ...]], str] = {}

    def price(
        self,
        provider: str,
        model: str | None,
        usage: Usage,
        at: datetime,
        *,
        service_tier: str | None = None,
        region: str | None = None,
    ) -> Priced:
        """What ``pricer.price`` gives for the same arguments, as a tuple."""
        if is_empty(usage):
            return UNPRICED
        output = usage.output_tokens or 0
        reasoning = usage.reasoning_tokens or 0
        quote = self._quote(provider, model, at, service_tier, region)
        if quote is None or reasoning > output:
            slow = self.pricer.price(
                provider, model, usage, at, service_tier=service_tier, region=region
            )
            return slow.cost_usd, slow.cost_status, slow.price_ref

        counts = (
            usage.input_tokens or 0,
            usage.cache_read_tokens or 0,
            usage.cache_write_5m_tokens or 0,
            usage.cache_write_1h_tokens or 0,
            output - reasoning,
            reasoning,
            usage.web_search_requests or 0,
        )
        card = quote.card
        band = card.band_for(counts[0] + counts[1] + counts[2] + counts[3])
        rates = band.rates
        cost = rates.per_call
        for amount, rate in zip(counts, rates.per_unit, strict=True):
            if amount:
                cost += rate * amount
        used = tuple(amount > 0 for amount in counts)
        ref_key = (id(card), band.floor, used)
        ref = self._refs.get(ref_key)
        if ref is None:
            ref = self._refs[ref_key] = card.price_ref_for(band, Counts(*counts))
        return cost, CostStatus.PRICED, ref

    def _quote(
        self,
        provider: str,
        model: str | None,
        at: datetime,
        service_tier: str | None,
        region: str | None,
    ) -> Quote | None:
        if not model:
            return None
        key = (provider, model, service_tier, region, int(at.timestamp()) // 60)
        quotes = self._quotes
        if key in quotes:
            return quotes[key]
        if len(quotes) >= QUOTE_CACHE_SIZE:
            quotes.clear()
            self._refs.clear()  # keyed by card identity: cards may now be freed
        quote = quotes[key] = self.pricer.quote(
            provider, model, at, service_tier=service_tier, region=region
        )
        return quote


def as_price(priced: Priced) -> Price:
    return Price(cost_usd=priced[0], cost_status=priced[1], price_ref=priced[2])


def is_empty(usage: Usage) -> bool:
    """``usage.is_empty``, field by field (it runs once per call)."""
    return (
        usage.input_tokens is None
        and usage.output_tokens is None
        and usage.cache_read_tokens is None
        and usage.cache_write_5m_tokens is None
        and usage.cache_write_1h_tokens is None
        and usage.reasoning_tokens is None
        and usage.web_search_requests is None
    )

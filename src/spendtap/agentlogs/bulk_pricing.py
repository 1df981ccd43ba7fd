"""``Pricer.price`` for a backfill's tens of thousands of calls.

``Pricer.price`` resolves the model and finds its rate card on every call, and
builds a few small records doing it; a backfill prices the same few models
thousands of times a day. ``BulkPricer`` asks the pricer for the quote (model and
rate card) once per kind of call per UTC day, which the pricer says is enough for a
model without time-of-day rates. For one with them, the quote is asked once per half
hour of the call's time, having checked that the card is the same at both ends of
that half hour (else once per minute: rates never change within one). Each call is
then priced on the card the way the pricer does: the prompt size picks the band, the cost is the band's per-call
amount plus rate times count for each count, and the price reference names the
rules the call's non-zero counts used. Anything out of the ordinary (no model, no
price, a reasoning count above the output) goes to the pricer itself, which warns.
A test holds the two to the same result on random usage.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from spendtap.agentlogs.call import AgentCall
from spendtap.event import CostStatus
from spendtap.pricing import Price, Pricer, Quote
from spendtap.pricing.rates import COUNT_FIELDS, Counts

#: Quotes kept; past it the cache starts over.
QUOTE_CACHE_SIZE = 8192
#: Minutes a quote is kept for when its card holds for all of them.
HALF_HOUR = 30
MINUTES_PER_DAY = 24 * 60
_MISSING = object()
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
        #: Quotes of models whose price holds for a whole UTC day, by day.
        self._daily: dict[tuple[object, ...], Quote | None] = {}
        self._refs: dict[tuple[int, int, int], str] = {}

    def price(self, call: AgentCall) -> Priced:
        """What ``pricer.price`` gives for the call, as a tuple."""
        if call.usage_is_empty:
            return UNPRICED
        output = call.output_tokens or 0
        reasoning = call.reasoning_tokens or 0
        quote = self._quote(
            call.provider, call.model, call.started_at, call.service_tier, call.region
        )
        if quote is None or reasoning > output:
            slow = self.pricer.price(
                call.provider,
                call.model,
                call.usage,
                call.started_at,
                service_tier=call.service_tier,
                region=call.region,
            )
            return slow.cost_usd, slow.cost_status, slow.price_ref

        counts = (
            call.input_tokens or 0,
            call.cache_read_tokens or 0,
            call.cache_write_5m_tokens or 0,
            call.cache_write_1h_tokens or 0,
            output - reasoning,
            reasoning,
            call.web_search_requests or 0,
        )
        card = quote.card
        prompt = counts[0] + counts[1] + counts[2] + counts[3]
        index = 0
        for start in card.starts:  # the band: how many thresholds the prompt is over
            if prompt > start:
                index += 1
        band = card.bands[index]
        rates = band.rates
        cost = rates.per_call
        used = 0  # which counts are non-zero, as bits: they decide the rules cited
        bit = 1
        for amount, rate in zip(counts, rates.per_unit, strict=True):
            if amount:
                cost += rate * amount
                used |= bit
            bit <<= 1
        ref_key = (id(card), index, used)
        ref = self._refs.get(ref_key)
        if ref is None:
            ref = self._refs[ref_key] = card.price_ref_for(band, Counts(*counts))
        return cost, CostStatus.PRICED, ref

    def daily_quote(
        self,
        provider: str,
        model: str,
        at: datetime,
        service_tier: str | None,
        region: str | None,
    ) -> Quote | None:
        """The quote for every call of ``at``'s UTC day; None when there is no
        price or it can change within the day (time-of-day rates)."""
        if self.pricer.changes_within_day(provider, model, at, region=region):
            return None
        return self.pricer.quote(
            provider, model, at, service_tier=service_tier, region=region
        )

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
        minute = int(at.timestamp()) // 60
        daily = (provider, model, service_tier, region, minute // MINUTES_PER_DAY)
        found = self._daily.get(daily, _MISSING)
        if found is not _MISSING:
            return found  # type: ignore[return-value]
        quotes = self._quotes
        steady = (provider, model, service_tier, region, minute // HALF_HOUR)
        if steady in quotes:
            return quotes[steady]
        kind = (provider, model, service_tier, region)
        exact = (*kind, -1 - minute)
        if exact in quotes:
            return quotes[exact]
        if len(quotes) + len(self._daily) >= QUOTE_CACHE_SIZE:
            quotes.clear()
            self._daily.clear()
            self._refs.clear()  # keyed by card identity: cards may now be freed
        if not self.pricer.changes_within_day(provider, model, at, region=region):
            quote = self.pricer.quote(
                provider, model, at, service_tier=service_tier, region=region
            )
            self._daily[daily] = quote
            return quote
        return self._look_up(kind, at, minute)

    def _look_up(
        self, kind: tuple[str, str, str | None, str | None], at: datetime, minute: int
    ) -> Quote | None:
        """The quote for ``at``, kept for its half hour if the card holds for all of
        it, else for its minute."""
        provider, model, tier, region = kind
        quote = self.pricer.quote(provider, model, at, service_tier=tier, region=region)
        start = datetime.fromtimestamp((minute - minute % HALF_HOUR) * 60, UTC)
        bounds = (start, start + timedelta(minutes=HALF_HOUR, microseconds=-1))
        same = all(
            _card(
                self.pricer.quote(provider, model, t, service_tier=tier, region=region)
            )
            == _card(quote)
            for t in bounds
        )
        key = (*kind, minute // HALF_HOUR) if same else (*kind, -1 - minute)
        self._quotes[key] = quote
        return quote


def as_price(priced: Priced) -> Price:
    return Price(cost_usd=priced[0], cost_status=priced[1], price_ref=priced[2])


def _card(quote: Quote | None) -> object:
    return None if quote is None else quote.card

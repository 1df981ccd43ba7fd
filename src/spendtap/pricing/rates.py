"""Per-token rates of one model on one day, read out of genai-prices once.

genai-prices' ``calc_price`` costs ~85 µs a call (measured with 0.2.3 on this
project's machines; almost all of it in its unit decomposition), which is 17 s for a
200,000-line agent-log backfill. Within one prompt-size band the price is linear in
each of our usage fields, so the pricer asks genai-prices once per model, day, price
context and band for the cost of one token of each field, and then prices every call
with a handful of Decimal multiplications. ``tests/pricing`` checks that the result
equals genai-prices' own on random usage.

Conventions differ, and the conversion lives here only: our ``input_tokens`` exclude
cache reads and writes, genai-prices' include them; genai-prices'
``cache_write_tokens`` include the 1-hour part, which it also takes separately as
``cache_write_1h_tokens``. Output includes reasoning in both.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import genai_prices
from genai_prices.types import ModelPrice, TieredPrices, TimeOfDateConstraint

from spendtap.event import Usage


@dataclass(frozen=True, slots=True)
class Counts:
    """One call's usage in our convention, with silent fields read as 0.

    ``output`` is the non-reasoning part of the output; ``reasoning`` the rest.
    """

    input: int = 0
    cache_read: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0
    output: int = 0
    reasoning: int = 0
    web_search: int = 0

    @property
    def prompt_total(self) -> int:
        """The whole prompt, as genai-prices counts ``input_tokens``."""
        return self.input + self.cache_read + self.cache_write_5m + self.cache_write_1h

    def plus(self, field: str, amount: int) -> Counts:
        return dataclasses.replace(self, **{field: getattr(self, field) + amount})


COUNT_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Counts))


def counts_from_usage(usage: Usage) -> tuple[Counts, bool]:
    """Our usage as counts, and whether the reasoning figure had to be ignored.

    A reasoning count larger than the output it is part of is bad data; the tokens are
    then priced as plain output rather than refused.
    """
    output = usage.output_tokens or 0
    reasoning = usage.reasoning_tokens or 0
    reasoning_ignored = reasoning > output
    if reasoning_ignored:
        reasoning = 0
    counts = Counts(
        input=usage.input_tokens or 0,
        cache_read=usage.cache_read_tokens or 0,
        cache_write_5m=usage.cache_write_5m_tokens or 0,
        cache_write_1h=usage.cache_write_1h_tokens or 0,
        output=output - reasoning,
        reasoning=reasoning,
        web_search=usage.web_search_requests or 0,
    )
    return counts, reasoning_ignored


def to_genai_usage(counts: Counts) -> genai_prices.Usage:
    """The same usage in genai-prices' convention (see the module docstring)."""
    cache_write = counts.cache_write_5m + counts.cache_write_1h
    return genai_prices.Usage(
        input_tokens=counts.prompt_total,
        cache_read_tokens=counts.cache_read,
        cache_write_tokens=cache_write,
        cache_write_5m_tokens=counts.cache_write_5m,
        cache_write_1h_tokens=counts.cache_write_1h,
        output_tokens=counts.output + counts.reasoning,
        output_reasoning_tokens=counts.reasoning,
        web_searches=counts.web_search,
    )


@dataclass(frozen=True, slots=True)
class Rates:
    """USD for one unit of each count field, plus a fixed amount per call."""

    per_call: Decimal
    per_unit: tuple[Decimal, ...]  # in COUNT_FIELDS order

    def cost(self, counts: Counts) -> Decimal:
        total = self.per_call
        for field, rate in zip(COUNT_FIELDS, self.per_unit, strict=True):
            amount = getattr(counts, field)
            if amount:
                total += rate * amount
        return total

    def rate(self, field: str) -> Decimal:
        """USD for one unit (token, or search) of ``field``."""
        return self.per_unit[COUNT_FIELDS.index(field)]

    def with_rate(self, field: str, value: Decimal) -> Rates:
        index = COUNT_FIELDS.index(field)
        per_unit = (*self.per_unit[:index], value, *self.per_unit[index + 1 :])
        return Rates(per_call=self.per_call, per_unit=per_unit)

    def scaled(self, factor: Decimal) -> Rates:
        """Every rate and the per-call amount times ``factor`` (a discount)."""
        return Rates(
            per_call=self.per_call * factor,
            per_unit=tuple(rate * factor for rate in self.per_unit),
        )


CostFunction = Callable[[Counts], Decimal]


def probe_rates(cost_of: CostFunction, base: Counts) -> Rates:
    """Read the rates of the band ``base`` lies in, by pricing one more unit of each.

    ``base`` must hold only uncached input (the band is chosen by the prompt size),
    and adding one token must not cross into the next band.
    """
    base_cost = cost_of(base)
    per_unit = tuple(cost_of(base.plus(field, 1)) - base_cost for field in COUNT_FIELDS)
    per_call = base_cost - per_unit[0] * base.input
    return Rates(per_call=per_call, per_unit=per_unit)


def tier_starts(prices: Iterable[ModelPrice]) -> tuple[int, ...]:
    """Every prompt-size threshold at which any of these prices changes, ascending."""
    starts: set[int] = set()
    for price in prices:
        for value in price.__dict__.values():
            if isinstance(value, TieredPrices):
                starts.update(tier.start for tier in value.tiers)
    return tuple(sorted(starts))


def band_of(prompt_total: int, starts: tuple[int, ...]) -> int:
    """Which band a prompt falls in: how many thresholds it is strictly above.

    genai-prices applies a tier once the whole prompt is above its start.
    """
    return sum(1 for start in starts if prompt_total > start)


def band_base(band: int, starts: tuple[int, ...]) -> Counts:
    """The smallest usage inside ``band``, used as the probe's starting point."""
    return Counts(input=0 if band == 0 else starts[band - 1] + 1)


def depends_on_time_of_day(model: genai_prices.types.ModelInfo) -> bool:
    """True when a price of this model changes within a day (off-peak discounts)."""
    conditional = [] if isinstance(model.prices, ModelPrice) else model.prices
    constraints = [c.constraint for c in conditional]
    constraints += [v.constraint for v in model.price_variants or ()]
    return any(isinstance(c, TimeOfDateConstraint) for c in constraints)


def time_of_day_state(
    model: genai_prices.types.ModelInfo, at: datetime
) -> tuple[bool, ...]:
    """Which of the model's time-of-day price windows are open at ``at``.

    Two calls on the same day with the same state have the same rates, so the state
    is part of the rate cache key for models whose price changes within a day.
    """
    conditional = [] if isinstance(model.prices, ModelPrice) else model.prices
    constraints = [c.constraint for c in conditional]
    constraints += [v.constraint for v in model.price_variants or ()]
    return tuple(
        c.active(at) for c in constraints if isinstance(c, TimeOfDateConstraint)
    )

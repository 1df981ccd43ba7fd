"""List price of one call, from the genai-prices data bundled with the package.

The pricer never guesses: an unknown provider or model, or a call whose usage the
wire did not give, has no cost (``None``, ``cost_status: unpriced``), never 0. Prices
are those in force at the call's own timestamp, so a backfill of old agent logs gets
the prices of their day. The bundled data is used as installed; genai-prices' updater,
which downloads from the internet, is never run.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

import genai_prices
from genai_prices.data_snapshot import get_snapshot
from genai_prices.types import ModelInfo, Provider

from spendtap.event import CostStatus, Usage
from spendtap.pricing.provider_ids import genai_provider_id
from spendtap.pricing.rates import (
    Counts,
    Rates,
    band_base,
    band_of,
    counts_from_usage,
    depends_on_time_of_day,
    probe_rates,
    tier_starts,
    to_genai_usage,
)

log = logging.getLogger(__name__)

PRICE_DATA = f"genai-prices@{genai_prices.__version__}"

#: Service tiers that are the standard price (no price variant applies).
STANDARD_TIERS = frozenset({"standard", "default", "auto", "on_demand"})

_VERTEX_VERSION = re.compile(r"@[^/]*$")
_GOOGLE_REVISION = re.compile(r"-0\d\d$")


@dataclass(frozen=True, slots=True)
class Price:
    """What a call costs at list price, and which data said so."""

    cost_usd: Decimal | None
    cost_status: CostStatus
    price_ref: str | None


UNPRICED = Price(cost_usd=None, cost_status=CostStatus.UNPRICED, price_ref=None)

PriceContext = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class _Match:
    provider: Provider
    model: ModelInfo
    time_of_day: bool  # a price changes within a day: no caching by date


@dataclass(slots=True)
class _DaySheet:
    """One model's rates on one UTC day in one price context, by prompt-size band."""

    starts: tuple[int, ...]
    bands: dict[int, Rates] = field(default_factory=dict)


class Pricer:
    """Prices calls; safe to share between threads.

    ``price`` costs a few microseconds once a model has been seen that day; the first
    call per model, day, price context and prompt-size band reads the rates out of
    genai-prices (under a millisecond).
    """

    def __init__(self, *, cache_size: int = 4096) -> None:
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._matches: dict[tuple[str, str, str | None], _Match | None] = {}
        self._sheets: dict[tuple[str, str, date, PriceContext], _DaySheet] = {}
        self._warned: set[tuple[str, str]] = set()

    def price(
        self,
        provider: str,
        model: str | None,
        usage: Usage,
        at: datetime,
        *,
        service_tier: str | None = None,
        region: str | None = None,
        estimated: bool = False,
    ) -> Price:
        """The list price of one call made at ``at``.

        ``region`` matters where it changes the price (Bedrock ``global`` versus
        regional endpoints). ``estimated`` marks usage that was estimated rather than
        reported, and gives ``cost_status: estimated`` instead of ``priced``.
        """
        if usage.is_empty:
            return UNPRICED
        match = self._resolve(provider, model, region)
        if match is None:
            return UNPRICED

        counts, reasoning_ignored = counts_from_usage(usage)
        if reasoning_ignored:
            self._warn_once(
                "reasoning_over_output", provider=provider, model=match.model.id
            )
        context = price_context(service_tier)
        try:
            cost = self._cost(match, counts, _as_utc(at), context)
        except ValueError as exc:  # genai-prices refusing the usage or its own data
            self._warn_once(
                "calc_failed", provider=provider, model=match.model.id, error=exc
            )
            return UNPRICED

        status = CostStatus.ESTIMATED if estimated else CostStatus.PRICED
        return Price(
            cost_usd=cost, cost_status=status, price_ref=price_ref(match, context)
        )

    def _resolve(
        self, provider: str, model: str | None, region: str | None
    ) -> _Match | None:
        provider_id = genai_provider_id(provider)
        if provider_id is None:
            self._warn_once("provider_unknown", provider=provider)
            return None
        if not model:
            self._warn_once("model_missing", provider=provider)
            return None

        key = (provider_id, model, region)
        with self._lock:
            if key in self._matches:
                match = self._matches[key]
            else:
                match = find_model(provider_id, model, region)
                self._remember(self._matches, key, match)
        if match is None:
            self._warn_once("model_unknown", provider=provider, model=model)
        return match

    def _cost(
        self, match: _Match, counts: Counts, at: datetime, context: PriceContext
    ) -> Decimal:
        if match.time_of_day:
            return _genai_cost(match, counts, at, context)

        key = (match.provider.id, match.model.id, at.date(), context)
        with self._lock:
            sheet = self._sheets.get(key)
            if sheet is None:
                sheet = _day_sheet(match, at, context)
                self._remember(self._sheets, key, sheet)
            band = band_of(counts.prompt_total, sheet.starts)
            rates = sheet.bands.get(band)
            if rates is None:
                base = band_base(band, sheet.starts)
                rates = probe_rates(lambda c: _genai_cost(match, c, at, context), base)
                sheet.bands[band] = rates
        return rates.cost(counts)

    def _remember[K, V](self, cache: dict[K, V], key: K, value: V) -> None:
        if len(cache) >= self._cache_size:
            cache.clear()
        cache[key] = value

    def _warn_once(self, event: str, **fields: object) -> None:
        """Log a pricing problem the first time it is seen (per event and fields)."""
        pairs = " ".join(f"{name}={value}" for name, value in fields.items())
        with self._lock:
            if (event, pairs) in self._warned:
                return
            if len(self._warned) >= self._cache_size:
                self._warned.clear()
            self._warned.add((event, pairs))
        log.warning("pricing.%s %s", event, pairs)


def price_context(service_tier: str | None) -> PriceContext:
    """genai-prices' price-variant context for a service tier, as a hashable tuple."""
    if not service_tier:
        return ()
    tier = service_tier.strip().lower()
    if tier in STANDARD_TIERS:
        return ()
    if tier == "batch":
        return (("processing", "batch"),)
    return (("service_tier", tier),)


def price_ref(match: _Match, context: PriceContext) -> str:
    """Names the data, its version and the entry used, e.g.
    ``genai-prices@0.2.3:anthropic/claude-haiku-4-5``."""
    ref = f"{PRICE_DATA}:{match.provider.id}/{match.model.id}"
    if context:
        ref += ";" + ",".join(f"{k}={v}" for k, v in context)
    return ref


def find_model(provider_id: str, model: str, region: str | None) -> _Match | None:
    """The genai-prices entry for a model of a provider, or None if it has none."""
    snapshot = get_snapshot()
    for ref in model_refs(provider_id, model, region):
        try:
            provider, info = snapshot.find_provider_model(ref, None, provider_id, None)
        except LookupError:
            continue
        return _Match(provider, info, time_of_day=depends_on_time_of_day(info))
    return None


def model_refs(provider_id: str, model: str, region: str | None) -> list[str]:
    """Names to look a model up by, most specific first.

    Bedrock prices cross-region (``global``) inference profiles apart from regional
    ones, and genai-prices tells them apart by the profile prefix our normalised model
    id no longer has. Google model names may come with a ``models/`` prefix, a Vertex
    ``@version`` or a ``-001`` revision that genai-prices does not list.
    """
    refs: list[str] = []
    if provider_id == "aws" and region == "global" and model.startswith("claude-"):
        refs.append(f"global.anthropic.{model}")
    refs.append(model)
    bare = _VERTEX_VERSION.sub("", model.removeprefix("models/"))
    if provider_id == "google":
        bare = _GOOGLE_REVISION.sub("", bare)
    if bare != model:
        refs.append(bare)
    return refs


def _day_sheet(match: _Match, at: datetime, context: PriceContext) -> _DaySheet:
    variants = [match.model.get_prices(at), match.model.get_prices(at, dict(context))]
    return _DaySheet(starts=tier_starts(variants))


def _genai_cost(
    match: _Match, counts: Counts, at: datetime, context: PriceContext
) -> Decimal:
    ctx: Mapping[str, str] | None = dict(context) or None
    calculation = match.model.calc_price(
        to_genai_usage(counts),
        match.provider,
        genai_request_timestamp=at,
        price_context=ctx,
    )
    return calculation.total_price


def _as_utc(at: datetime) -> datetime:
    """The timestamp in UTC; a naive one is taken to be UTC already."""
    if at.tzinfo is None:
        return at.replace(tzinfo=UTC)
    return at.astimezone(UTC)

"""List price of one call: price data, our corrections, the customer's sheet.

The pricer never guesses: an unknown provider or model, or a call whose usage the
wire did not give, has no cost (``None``, ``cost_status: unpriced``), never 0. Prices
are those in force at the call's own timestamp (UTC), so a backfill of old agent logs
gets the prices of their day. genai-prices' updater, which downloads from the
internet, is never run; newer data comes in through ``spendtap prices import``.

How a price is put together is in :mod:`spendtap.pricing.card`; every price names its
data, rules and sheet entries in ``price_ref``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from genai_prices.types import ModelInfo, Provider

from spendtap.event import CostStatus, Usage
from spendtap.pricing.card import (
    CallKind,
    Card,
    data_card,
    normalise_tier,
    price_context,
    private_card,
    tier_unpriced,
)
from spendtap.pricing.corrections import RULES, Rule
from spendtap.pricing.models import ModelId, normalise_model, region_is_global
from spendtap.pricing.provider_ids import genai_provider_id
from spendtap.pricing.rates import (
    counts_from_usage,
    depends_on_time_of_day,
    time_of_day_state,
)
from spendtap.pricing.sheet import SHEET_FILE, PriceSheet, PrivateModel, load_sheet
from spendtap.pricing.snapshot import BUNDLED_LABEL, PriceData, load_price_data

log = logging.getLogger(__name__)

_MISSING: object = object()

PRICE_DATA = BUNDLED_LABEL

#: A reported cost and our list price may differ by this share before we warn.
REPORTED_COST_TOLERANCE = Decimal("0.01")

__all__ = [
    "PRICE_DATA",
    "UNPRICED",
    "Price",
    "Pricer",
    "Quote",
    "price_context",
]


@dataclass(frozen=True, slots=True)
class Price:
    """What a call costs, and which data said so.

    ``list_cost_usd`` is our list price when the cost came from elsewhere (the
    provider's own reported cost), kept for comparison; otherwise it is None.
    """

    cost_usd: Decimal | None
    cost_status: CostStatus
    price_ref: str | None
    list_cost_usd: Decimal | None = None


UNPRICED = Price(cost_usd=None, cost_status=CostStatus.UNPRICED, price_ref=None)


@dataclass(frozen=True, slots=True)
class Quote:
    """How a kind of call is priced: the model as resolved, and its rate card."""

    provider: str
    model: ModelId
    region: str | None
    card: Card


@dataclass(frozen=True, slots=True)
class _Entry:
    """What a model id resolved to: a price-data entry, a private model, or nothing."""

    model: ModelId
    region: str | None
    provider: Provider | None = None
    info: ModelInfo | None = None
    private: PrivateModel | None = None
    time_of_day: bool = False


class Pricer:
    """Prices calls; safe to share between threads.

    ``data_dir`` supplies imported price data (``prices/``) and the customer's price
    sheet (``prices.toml``); ``sheet`` names a sheet file, or passes one already
    parsed, instead. ``data`` and ``rules`` replace the price data and corrections
    (tests use them). After the first call of a kind on a day, ``price`` costs a few
    microseconds.
    """

    def __init__(
        self,
        *,
        data_dir: Path | None = None,
        sheet: Path | PriceSheet | None = None,
        data: PriceData | None = None,
        rules: tuple[Rule, ...] = RULES,
        cache_size: int = 4096,
    ) -> None:
        self.data = data if data is not None else load_price_data(data_dir)
        self.sheet = _load_sheet(sheet, data_dir)
        self.rules = rules
        self._cache_size = cache_size
        self._lock = threading.RLock()
        self._entries: dict[tuple[str, str, str | None, date], _Entry] = {}
        self._cards: dict[tuple[object, ...], Card] = {}
        self._fast: dict[tuple[object, ...], Card | None] = {}
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
        reported_cost: Decimal | None = None,
    ) -> Price:
        """The price of one call made at ``at``.

        ``region`` matters where it changes the price (Bedrock ``global`` versus
        regional profiles, Vertex regional endpoints). ``estimated`` marks usage that
        was estimated rather than reported (``cost_status: estimated``).
        ``reported_cost`` is the provider's own figure for the call (OpenRouter): it
        becomes the cost, and our list price is kept beside it for comparison.
        """
        status = CostStatus.ESTIMATED if estimated else CostStatus.PRICED
        listed = (
            UNPRICED
            if _no_counts(usage)
            else self._list_price(
                provider, model, usage, at, service_tier, region, status
            )
        )
        if reported_cost is None:
            return listed
        return self._reported(provider, model, reported_cost, listed, status)

    def quote(
        self,
        provider: str,
        model: str,
        at: datetime,
        *,
        service_tier: str | None = None,
        region: str | None = None,
    ) -> Quote | None:
        """How calls of this kind are priced, or None when the model has no price."""
        at = _as_utc(at)
        entry = self._resolve(provider, model, region, at.date())
        if entry is None:
            return None
        card = self._card(provider, entry, at, normalise_tier(service_tier))
        if card is None:
            return None
        return Quote(provider, entry.model, entry.region, card)

    def changes_within_day(
        self, provider: str, model: str, at: datetime, *, region: str | None = None
    ) -> bool:
        """Whether ``quote`` can differ between two times of ``at``'s UTC day.

        Only a model with time-of-day rates can: everything else a quote depends on
        (the model's entry, price-data dates, correction rules, the sheet) is looked
        up by day.
        """
        entry = self._resolve(provider, model, region, _as_utc(at).date())
        return entry is not None and entry.time_of_day

    def _card_for_call(
        self,
        provider: str,
        model: str,
        at: datetime,
        service_tier: str | None,
        region: str | None,
    ) -> Card | None:
        """The card for a call, from a one-lookup cache after the first of its kind.

        Cards of models whose price changes within a day are not kept here.
        """
        at = _as_utc(at)
        key = (provider, model, region, service_tier, at.date())
        cached = self._fast.get(key, _MISSING)
        if cached is not _MISSING:
            return cached  # type: ignore[return-value]
        entry = self._resolve(provider, model, region, at.date())
        card = None
        if entry is not None:
            card = self._card(provider, entry, at, normalise_tier(service_tier))
        if entry is None or not entry.time_of_day:
            with self._lock:
                self._remember(self._fast, key, card)
        return card

    def _list_price(
        self,
        provider: str,
        model: str | None,
        usage: Usage,
        at: datetime,
        service_tier: str | None,
        region: str | None,
        status: CostStatus,
    ) -> Price:
        if not model:
            self._warn_once("model_missing", provider=provider)
            return UNPRICED
        card = self._card_for_call(provider, model, at, service_tier, region)
        if card is None:
            return UNPRICED

        counts, reasoning_ignored = counts_from_usage(usage)
        if reasoning_ignored:
            self._warn_once("reasoning_over_output", provider=provider, model=model)
        band = card.band_for(counts.prompt_total)
        ref = card.price_ref_for(band, counts)
        return Price(
            cost_usd=band.rates.cost(counts), cost_status=status, price_ref=ref
        )

    def _reported(
        self,
        provider: str,
        model: str | None,
        reported: Decimal,
        listed: Price,
        status: CostStatus,
    ) -> Price:
        list_cost = listed.cost_usd
        if list_cost is not None and _differs(reported, list_cost):
            log.warning(
                "pricing.reported_cost_differs provider=%s model=%s reported=%s list=%s",
                provider,
                model,
                reported,
                list_cost,
            )
        ref = f"reported:{provider};list={listed.price_ref or 'unpriced'}"
        return Price(reported, status, ref, list_cost_usd=list_cost)

    def _resolve(
        self, provider: str, model: str, region: str | None, day: date
    ) -> _Entry | None:
        key = (provider, model, region, day)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._find(provider, model, region, day)
                self._remember(self._entries, key, entry)
        if entry.info is None and entry.private is None:
            return None
        return entry

    def _find(self, provider: str, model: str, region: str | None, day: date) -> _Entry:
        aliases = self.sheet.aliases if self.sheet is not None else ()
        model_id = normalise_model(provider, model, day=day, aliases=aliases)
        region = model_id.region or region  # a Bedrock profile says where it runs
        entry = _Entry(model_id, region)

        if self.sheet is not None:
            private = self.sheet.private_model(provider, model_id.model, day)
            if private is not None:
                return _Entry(model_id, region, private=private)
        if not model_id.resolved:
            self._warn_once(
                "model_unresolved",
                provider=provider,
                model=model_id.model,
                fix="add_an_alias_to_prices.toml",
            )
            return entry
        provider_id = genai_provider_id(provider)
        if provider_id is None:
            self._warn_once("provider_unknown", provider=provider)
            return entry

        refs = model_refs(provider_id, model_id.model, region)
        for ref in [*refs, *model_id.alternates]:
            try:
                found = self.data.snapshot.find_provider_model(
                    ref, None, provider_id, None
                )
            except LookupError:
                continue
            info = found[1]
            return _Entry(
                model_id,
                region,
                found[0],
                info,
                time_of_day=depends_on_time_of_day(info),
            )
        self._warn_once("model_unknown", provider=provider, model=model)
        return entry

    def _card(
        self, provider: str, entry: _Entry, at: datetime, tier: str
    ) -> Card | None:
        call = CallKind(provider, entry.model.model, at, tier, entry.region)
        if entry.private is not None and self.sheet is not None:
            return private_card(self.sheet, entry.private, call)
        assert entry.provider is not None and entry.info is not None

        state = time_of_day_state(entry.info, at) if entry.time_of_day else ()
        key = (
            provider,
            entry.model.model,
            entry.info.id,
            entry.region,
            at.date(),
            tier,
            state,
        )
        with self._lock:
            card = self._cards.get(key)
            if card is None:
                try:
                    card = data_card(
                        self.data.label,
                        entry.provider,
                        entry.info,
                        call,
                        self.rules,
                        self.sheet,
                    )
                except ValueError as exc:  # genai-prices refusing its own data
                    self._warn_once(
                        "calc_failed", provider=provider, model=entry.info.id, error=exc
                    )
                    return None
                self._remember(self._cards, key, card)
        if tier_unpriced(card):
            self._warn_once(
                "tier_unpriced", provider=provider, model=entry.info.id, tier=tier
            )
        return card

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


def model_refs(provider_id: str, model: str, region: str | None) -> list[str]:
    """Names to look a normalised model up by in the price data, most specific first.

    Bedrock prices cross-region (``global``) inference profiles apart from regional
    ones, and genai-prices tells them apart by the profile prefix our normalised id
    no longer has. Fireworks lists models by their full ``accounts/…`` path.
    """
    refs: list[str] = []
    if (
        provider_id == "aws"
        and region_is_global(region)
        and model.startswith("claude-")
    ):
        refs.append(f"global.anthropic.{model}")
    refs.append(model)
    if provider_id == "fireworks" and "/" not in model:
        refs.append(f"accounts/fireworks/models/{model}")  # Fireworks' full name
    return refs


def _load_sheet(
    sheet: Path | PriceSheet | None, data_dir: Path | None
) -> PriceSheet | None:
    if isinstance(sheet, PriceSheet):
        return sheet
    if sheet is not None:
        return load_sheet(sheet)
    if data_dir is not None and (data_dir / SHEET_FILE).exists():
        return load_sheet(data_dir / SHEET_FILE)
    return None


def _no_counts(usage: Usage) -> bool:
    """True when the wire gave no count at all (faster than ``Usage.is_empty``)."""
    return (
        usage.input_tokens is None
        and usage.output_tokens is None
        and usage.cache_read_tokens is None
        and usage.cache_write_5m_tokens is None
        and usage.cache_write_1h_tokens is None
        and usage.reasoning_tokens is None
        and usage.web_search_requests is None
    )


def _differs(reported: Decimal, listed: Decimal) -> bool:
    if listed == 0:
        return reported != 0
    return abs(reported - listed) / listed > REPORTED_COST_TOLERANCE


def _as_utc(at: datetime) -> datetime:
    """The timestamp in UTC; a naive one is taken to be UTC already."""
    if at.tzinfo is None:
        return at.replace(tzinfo=UTC)
    return at.astimezone(UTC)

"""A rate card: one model's rates on one day, for one tier and region, explained.

The card is built once (per model, day, service tier, region and customer sheet) in
four steps, and every call of that kind is then priced from it with a few Decimal
multiplications:

1. the list rates in the price data, read out of genai-prices per prompt-size band
   (:func:`spendtap.pricing.rates.probe_rates`);
2. the correction rules that cover the call and fill a gap in that data
   (:mod:`spendtap.pricing.corrections`), which may add a prompt-size band;
3. the customer's rate overrides (:mod:`spendtap.pricing.sheet`);
4. the customer's discount.

Each rate keeps the list of steps that set it (``origins``), which ``prices show``
prints and ``price_ref`` summarises.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from genai_prices.types import ModelInfo, ModelPrice, Provider

from spendtap.pricing.corrections import DataFacts, Rule, Scale
from spendtap.pricing.rates import (
    COUNT_FIELDS,
    Counts,
    Rates,
    band_base,
    band_of,
    probe_rates,
    tier_starts,
    to_genai_usage,
)
from spendtap.pricing.sheet import PriceSheet, PrivateModel

#: Service tiers that are the standard price (no price variant applies).
STANDARD_TIERS = frozenset({"standard", "default", "auto", "on_demand", "on-demand"})

PriceContext = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Band:
    """Rates for prompts of more than ``floor`` tokens (up to the next band's floor).

    ``floor`` is -1 for the first band. ``origins`` lists, per count field, the steps
    that set the rate; ``rule_ids`` the correction rules among them.
    """

    floor: int
    rates: Rates
    origins: tuple[tuple[str, ...], ...]
    rule_ids: tuple[tuple[str, ...], ...] = tuple(() for _ in COUNT_FIELDS)

    def origin(self, field: str) -> tuple[str, ...]:
        return self.origins[COUNT_FIELDS.index(field)]

    def rules_used(self, counts: Counts) -> tuple[str, ...]:
        """The rules that set a rate this call's counts were priced at."""
        used: set[str] = set()
        for field, ids in zip(COUNT_FIELDS, self.rule_ids, strict=True):
            if ids and getattr(counts, field):
                used.update(ids)
        return tuple(sorted(used))


@dataclass(frozen=True, slots=True)
class Card:
    """All the rates of one model for one kind of call, and what they came from."""

    data_ref: str
    starts: tuple[int, ...]
    bands: tuple[Band, ...]
    tier: str
    tier_ref: str
    rules: tuple[Rule, ...]
    sheet: str | None
    sheet_entries: tuple[str, ...]

    def band_for(self, prompt_total: int) -> Band:
        return self.bands[band_of(prompt_total, self.starts)]

    def rates_for(self, prompt_total: int) -> Rates:
        return self.band_for(prompt_total).rates

    @property
    def price_ref(self) -> str:
        """Data, tier, every rule on the card, and the sheet entries."""
        return self.ref_with(tuple(rule.id for rule in self.rules))

    def price_ref_for(self, band: Band, counts: Counts) -> str:
        """Data, tier, the rules this call's price used, and the sheet entries."""
        return self.ref_with(band.rules_used(counts))

    def ref_with(self, rule_ids: tuple[str, ...]) -> str:
        ref = self.data_ref + self.tier_ref
        if rule_ids:
            ref += ";rules=" + ",".join(rule_ids)
        if self.sheet is not None:
            ref += f";sheet={self.sheet}"
            if self.sheet_entries:
                ref += ":" + "+".join(self.sheet_entries)
        return ref


@dataclass(frozen=True, slots=True)
class CallKind:
    """What about a call the rates depend on, apart from its token counts."""

    provider: str  # ours, e.g. aws.bedrock
    model: str  # normalised
    at: datetime  # UTC
    tier: str  # standard, batch, flex, priority, ...
    region: str | None

    @property
    def day(self) -> date:
        return self.at.date()


def normalise_tier(service_tier: str | None) -> str:
    if not service_tier or not service_tier.strip():
        return "standard"
    tier = service_tier.strip().lower()
    return "standard" if tier in STANDARD_TIERS else tier


def price_context(tier: str) -> PriceContext:
    """genai-prices' price-variant context for a normalised service tier."""
    if tier == "standard":
        return ()
    if tier == "batch":
        return (("processing", "batch"),)
    return (("service_tier", tier),)


def data_card(
    data_label: str,
    provider: Provider,
    model: ModelInfo,
    call: CallKind,
    rules: Sequence[Rule],
    sheet: PriceSheet | None,
) -> Card:
    """The card for a model found in the price data."""
    context = price_context(call.tier)
    standard = model.get_prices(call.at)
    own_model = any(m is model for m in provider.models)  # genai-prices ignores
    # price variants of a model it borrowed from another provider: so do we
    variant = (
        model.get_prices(call.at, dict(context)) if context and own_model else None
    )
    tier_priced = not context or (variant is not None and variant != standard)
    prices = variant if tier_priced and variant is not None else standard
    used_context = context if tier_priced else ()

    facts = DataFacts(
        has_1h_write=_has(prices, "cache_write_1h_mtok"),
        has_prompt_tiers=bool(tier_starts([prices])),
        has_tier_price=tier_priced,
        has_web_search=_has(prices, "web_searches_kcount"),
    )
    active = tuple(
        rule
        for rule in rules
        if rule.covers(call.provider, call.model, call.day, call.tier, call.region)
        and facts.lacks(rule.when)
    )
    starts = tuple(
        sorted(
            set(tier_starts([prices]))
            | {
                r.change.above
                for r in active
                if isinstance(r.change, Scale) and r.change.above
            }
        )
    )

    def cost_of(counts: Counts) -> Decimal:
        calculation = model.calc_price(
            to_genai_usage(counts),
            provider,
            genai_request_timestamp=call.at,
            price_context=dict(used_context) or None,
        )
        return calculation.total_price

    bands = []
    for index in range(len(starts) + 1):
        floor = -1 if index == 0 else starts[index - 1]
        rates = probe_rates(cost_of, band_base(index, starts))
        bands.append(_apply_rules(Band(floor, rates, _data_origins(prices)), active))

    tier_ref = _tier_ref(call.tier, used_context, active)
    data_ref = f"{data_label}:{provider.id}/{model.id}"
    return _apply_sheet(
        Card(data_ref, starts, tuple(bands), call.tier, tier_ref, active, None, ()),
        call,
        sheet,
    )


def private_card(sheet: PriceSheet, entry: PrivateModel, call: CallKind) -> Card:
    """The card for a model the customer's sheet defines (no public price exists).

    Missing rates follow the main ones: cache reads and writes as input, reasoning
    as output, web searches free. Discounts do not apply to private rates.
    """
    given = dict(entry.rates.per_unit)
    input_rate = given["input"]
    output_rate = given["output"]
    defaults = {
        "cache_read": input_rate,
        "cache_write_5m": input_rate,
        "cache_write_1h": input_rate,
        "reasoning": output_rate,
        "web_search": Decimal(0),
    }
    per_unit = tuple(given.get(f, defaults.get(f, Decimal(0))) for f in COUNT_FIELDS)
    origin = f"sheet {sheet.name}: private model {entry.id}"
    band = Band(-1, Rates(Decimal(0), per_unit), _origins(origin))
    return Card(
        data_ref=f"sheet={sheet.name}:{entry.id}",
        starts=(),
        bands=(band,),
        tier=call.tier,
        tier_ref="",
        rules=(),
        sheet=None,
        sheet_entries=(),
    )


def _apply_rules(band: Band, rules: Sequence[Rule]) -> Band:
    rates, origins, ids = band.rates, list(band.origins), list(band.rule_ids)
    for rule in rules:
        change = rule.change
        above = change.above if isinstance(change, Scale) else None
        if above is not None and band.floor < above:
            continue
        updated = change.apply(rates)
        pairs = zip(rates.per_unit, updated.per_unit, strict=True)
        for index, (old, new) in enumerate(pairs):
            if old != new:
                label = f"{rule.id} {change.describe_field(COUNT_FIELDS[index])}"
                origins[index] = (*origins[index], label)
                ids[index] = (*ids[index], rule.id)
        rates = updated
    return Band(band.floor, rates, tuple(origins), tuple(ids))


def _apply_sheet(card: Card, call: CallKind, sheet: PriceSheet | None) -> Card:
    if sheet is None:
        return card
    overrides = sheet.overrides_for(call.provider, call.model, call.day)
    discount = sheet.discount_for(call.provider, call.model, call.day)
    if not overrides and discount is None:
        return card

    bands = []
    for band in card.bands:
        rates, origins = band.rates, list(band.origins)
        for override in overrides:
            for field, value in _override_fields(override.rates.per_unit).items():
                rates = rates.with_rate(field, value)
                origins[COUNT_FIELDS.index(field)] = (
                    f"sheet {sheet.name}: override {override.id}",
                )
        if discount is not None:
            rates = rates.scaled(discount.factor)
            note = f"sheet {sheet.name}: discount {discount.id} -{discount.percent}%"
            origins = [(*o, note) for o in origins]
        bands.append(Band(band.floor, rates, tuple(origins), band.rule_ids))

    entries = tuple(o.id for o in overrides) + ((discount.id,) if discount else ())
    return Card(
        card.data_ref,
        card.starts,
        tuple(bands),
        card.tier,
        card.tier_ref,
        card.rules,
        sheet.name,
        entries,
    )


def _override_fields(
    per_unit: tuple[tuple[str, Decimal], ...],
) -> Mapping[str, Decimal]:
    """An output override sets the reasoning rate too: reasoning is output."""
    fields = dict(per_unit)
    if "output" in fields:
        fields.setdefault("reasoning", fields["output"])
    return fields


def _tier_ref(tier: str, used_context: PriceContext, rules: Sequence[Rule]) -> str:
    if used_context:
        return ";" + ",".join(f"{k}={v}" for k, v in used_context)
    if tier == "standard":
        return ""
    if any(rule.tiers is not None and tier in rule.tiers for rule in rules):
        return f";tier={tier}"
    return f";tier={tier}(standard rates)"


def tier_unpriced(card: Card) -> bool:
    """True when the call's service tier had no price and standard rates were used."""
    return card.tier_ref.endswith("(standard rates)")


#: Count field → (genai-prices price key, what it costs when the data lacks that key).
_DATA_KEYS = {
    "cache_read": ("cache_read_mtok", "priced as input"),
    "cache_write_5m": ("cache_write_mtok", "priced as input"),
    "cache_write_1h": ("cache_write_1h_mtok", "priced as a 5-minute write"),
    "reasoning": ("output_reasoning_mtok", "priced as output"),
    "web_search": ("web_searches_kcount", "free"),
}


def _data_origins(prices: ModelPrice) -> tuple[tuple[str, ...], ...]:
    """ "data", or what the data does with a count it has no price for."""
    out = []
    for field in COUNT_FIELDS:
        key, fallback = _DATA_KEYS.get(field, ("", ""))
        if key and not _has(prices, key) and field != "reasoning":
            out.append((f"data (no price: {fallback})",))
        else:
            out.append(("data",))
    return tuple(out)


def _origins(label: str) -> tuple[tuple[str, ...], ...]:
    return tuple((label,) for _ in COUNT_FIELDS)


def _has(prices: ModelPrice, key: str) -> bool:
    return getattr(prices, key, None) is not None

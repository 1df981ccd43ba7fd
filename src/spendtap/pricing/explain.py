"""Why a model costs what it costs: the data behind ``spendtap prices show``.

:func:`explain` turns a :class:`~spendtap.pricing.pricer.Quote` into plain data (rates
per million tokens per prompt-size band, and where each rate came from);
:func:`render` prints it for a person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from spendtap.pricing.card import Band
from spendtap.pricing.pricer import Pricer, Quote
from spendtap.pricing.rates import COUNT_FIELDS

#: Count field → (column label, units per quoted amount).
COLUMNS: dict[str, tuple[str, int]] = {
    "input": ("input", 1_000_000),
    "cache_read": ("cache read", 1_000_000),
    "cache_write_5m": ("5m write", 1_000_000),
    "cache_write_1h": ("1h write", 1_000_000),
    "output": ("output", 1_000_000),
    "reasoning": ("reasoning", 1_000_000),
    "web_search": ("web search/1k", 1_000),
}


@dataclass(frozen=True, slots=True)
class Explanation:
    """Everything ``prices show`` prints, as data (``to_json`` for ``--json``)."""

    provider: str
    model_asked: str
    model: str
    steps: tuple[str, ...]
    region: str | None
    tier: str
    at: datetime
    data: str
    data_origin: str
    rules: tuple[tuple[str, str, str], ...]  # id, title, source
    sheet: str | None
    sheet_entries: tuple[str, ...]
    price_ref: str
    bands: tuple[Band, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model_asked": self.model_asked,
            "model": self.model,
            "normalisation": list(self.steps),
            "region": self.region,
            "service_tier": self.tier,
            "at": self.at.isoformat(),
            "data": self.data,
            "data_origin": self.data_origin,
            "rules": [{"id": i, "title": t, "source": s} for i, t, s in self.rules],
            "sheet": self.sheet,
            "sheet_entries": list(self.sheet_entries),
            "price_ref": self.price_ref,
            "bands": [_band_json(band) for band in self.bands],
        }


def explain(pricer: Pricer, model: str, quote: Quote, at: datetime) -> Explanation:
    card = quote.card
    data = card.data_ref.partition(":")[2] if ":" in card.data_ref else card.data_ref
    private = card.data_ref.startswith("sheet=")
    return Explanation(
        provider=quote.provider,
        model_asked=model,
        model=quote.model.model,
        steps=quote.model.steps,
        region=quote.region,
        tier=card.tier,
        at=at,
        data=card.data_ref if private else f"{pricer.data.label}: {data}",
        data_origin="customer price sheet" if private else pricer.data.origin,
        rules=tuple((r.id, r.title, r.source) for r in card.rules),
        sheet=card.sheet,
        sheet_entries=card.sheet_entries,
        price_ref=card.price_ref,
        bands=card.bands,
    )


def per_quoted_unit(field: str, rate: Decimal) -> Decimal:
    """A per-unit rate as quoted: per million tokens, or per 1,000 searches."""
    return rate * COLUMNS[field][1]


def render(ex: Explanation) -> str:
    lines = [
        f"{ex.model} on {ex.provider}, {ex.at:%Y-%m-%d %H:%M} UTC, "
        f"tier {ex.tier}, region {ex.region or '(not given)'}",
        "",
        f"  model   {ex.model_asked}",
        *(f"          -> {step}" for step in ex.steps),
        f"  data    {ex.data}",
        f"          ({ex.data_origin})",
    ]
    if ex.rules:
        lines.append("  rules   " + _first(ex.rules))
        for rule_id, title, source in ex.rules[1:]:
            lines.append(f"          {rule_id} {title}")
            lines.append(f"            source: {source}")
    else:
        lines.append("  rules   none")
    if ex.sheet is not None:
        entries = ", ".join(ex.sheet_entries) or "no entry for this model"
        lines.append(f"  sheet   {ex.sheet}: {entries}")
    lines.append(f"  ref     {ex.price_ref}")
    lines.append("")
    lines += _rate_table(ex.bands)
    lines.append("")
    lines.append("Where each rate came from")
    for band in ex.bands:
        lines.append(f"  {_band_label(band, ex.bands)}")
        for field in COUNT_FIELDS:
            value = _fmt(per_quoted_unit(field, band.rates.rate(field)))
            origin = " -> ".join(band.origin(field))
            lines.append(f"    {COLUMNS[field][0]:<14} {value:>10}  {origin}")
        if band.rates.per_call:
            lines.append(f"    {'per call':<14} {_fmt(band.rates.per_call):>10}  data")
    return "\n".join(lines) + "\n"


def _first(rules: Sequence[tuple[str, str, str]]) -> str:
    rule_id, title, source = rules[0]
    return f"{rule_id} {title}\n            source: {source}"


def _rate_table(bands: Sequence[Band]) -> list[str]:
    header = ["prompt tokens"] + [label for label, _ in COLUMNS.values()]
    rows = [header]
    for band in bands:
        cells = [_fmt(per_quoted_unit(f, band.rates.rate(f))) for f in COUNT_FIELDS]
        rows.append([_band_label(band, bands), *cells])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    out = ["USD per million tokens (web search: per 1,000 searches)"]
    for row in rows:
        first = row[0].ljust(widths[0])
        rest = "  ".join(
            cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True)
        )
        out.append(f"  {first}  {rest}")
    return out


def _band_label(band: Band, bands: Sequence[Band]) -> str:
    if len(bands) == 1:
        return "any size"
    index = list(bands).index(band)
    if index + 1 < len(bands):
        upper = bands[index + 1].floor
        if band.floor < 0:
            return f"up to {upper:,}"
        return f"{band.floor + 1:,} to {upper:,}"
    return f"over {band.floor:,}"


def _band_json(band: Band) -> dict[str, Any]:
    return {
        "above": None if band.floor < 0 else band.floor,
        "per_call_usd": str(band.rates.per_call),
        "rates": {
            field: _fmt(per_quoted_unit(field, band.rates.rate(field)))
            for field in COUNT_FIELDS
        },
        "origins": {field: list(band.origin(field)) for field in COUNT_FIELDS},
    }


def _fmt(value: Decimal) -> str:
    """A rate without exponent or trailing zeros: 3.3, 0.075, 16.5, 0."""
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"

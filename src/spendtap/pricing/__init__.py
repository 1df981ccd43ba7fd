"""Prices for calls: genai-prices data at the call's own date, our dated corrections,
and the customer's price sheet. See docs/pricing.md."""

from spendtap.pricing.models import ModelId, normalise_model
from spendtap.pricing.pricer import PRICE_DATA, UNPRICED, Price, Pricer, Quote
from spendtap.pricing.sheet import PriceSheet, load_sheet, parse_sheet

__all__ = [
    "PRICE_DATA",
    "UNPRICED",
    "ModelId",
    "Price",
    "PriceSheet",
    "Pricer",
    "Quote",
    "load_sheet",
    "normalise_model",
    "parse_sheet",
]

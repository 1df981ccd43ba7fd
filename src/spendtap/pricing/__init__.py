"""List prices for calls: bundled genai-prices data, at the call's own date."""

from spendtap.pricing.pricer import PRICE_DATA, UNPRICED, Price, Pricer

__all__ = ["PRICE_DATA", "UNPRICED", "Price", "Pricer"]

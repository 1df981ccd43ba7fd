"""US dollars as exact integers of nano-USD (10^-9), the engine's unit of storage."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

NANOS_PER_USD = 10**9
_ONE_NANO = Decimal(1).scaleb(-9)


def usd_to_nanos(usd: Decimal) -> int:
    """Whole nano-USD in ``usd``; digits past the ninth decimal round half to even."""
    return int(usd.quantize(_ONE_NANO, rounding=ROUND_HALF_EVEN).scaleb(9))


def nanos_to_usd(nanos: int) -> Decimal:
    """The exact dollar amount of ``nanos``, without trailing zeros (0.3, not 0.300)."""
    if nanos == 0:
        return Decimal(0)
    return Decimal(nanos).scaleb(-9).normalize()


def usd_from_json_number(value: float | int) -> Decimal:
    """The decimal a JSON number was written as (``0.1`` gives exactly 0.1)."""
    return Decimal(str(value))

"""Delivery: the durable spool and the shipper that sends it to the engine."""

from spendtap.delivery.shipper import ShipOutcome, Shipper, ShipperStats, ShipResult
from spendtap.delivery.spool import Spool, SpooledEvent, SpoolLimits, SpoolStats

__all__ = [
    "ShipOutcome",
    "ShipResult",
    "Shipper",
    "ShipperStats",
    "Spool",
    "SpoolLimits",
    "SpoolStats",
    "SpooledEvent",
]

"""Delivery health of one data directory, read from its files (``spendtap status``).

Reads the spool (read-only, safe while a collector writes it), the shipper's state
file, the collector lock and the enrollment file. Nothing here talks to the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from spendtap.delivery.credentials import load_credentials
from spendtap.delivery.lockfile import LockHolder, lock_holder
from spendtap.delivery.spool import SPOOL_FILENAME, Spool, SpoolStats
from spendtap.delivery.state import STATE_FILE, ShipperState, read_state
from spendtap.errors import ConfigError, SpoolError


@dataclass(frozen=True, slots=True)
class Enrollment:
    engine_url: str
    device_id: str
    enrolled_at: str


@dataclass(frozen=True, slots=True)
class DeliveryHealth:
    data_dir: Path
    collector: LockHolder
    spool: SpoolStats | None
    spool_error: str | None  # why the spool could not be read, if it could not
    shipper: ShipperState | None
    enrollment: Enrollment | None

    @property
    def oldest_unsent_at(self) -> datetime | None:
        return self.spool.oldest_created_at if self.spool else None


def read_health(data_dir: Path) -> DeliveryHealth:
    spool, spool_error = _spool_stats(data_dir / SPOOL_FILENAME)
    return DeliveryHealth(
        data_dir=data_dir,
        collector=lock_holder(data_dir),
        spool=spool,
        spool_error=spool_error,
        shipper=read_state(data_dir / STATE_FILE),
        enrollment=_enrollment(data_dir),
    )


def _spool_stats(path: Path) -> tuple[SpoolStats | None, str | None]:
    try:
        spool = Spool.open_readonly(path)
    except SpoolError as exc:
        return None, str(exc)
    try:
        return spool.stats(), None
    except SpoolError as exc:
        return None, str(exc)
    finally:
        spool.close()


def _enrollment(data_dir: Path) -> Enrollment | None:
    try:
        stored = load_credentials(data_dir)
    except ConfigError:
        return None
    if stored is None:
        return None
    return Enrollment(stored.engine_url, stored.device_id, stored.enrolled_at)

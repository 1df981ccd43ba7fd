"""Monthly partitions of ``events`` on PostgreSQL, created when a month first appears.

Partition ``events_pYYYYMM`` holds the events whose ``started_ms`` falls in that UTC
month. There is no default partition: ingest creates the partitions a batch needs
before it opens its transaction, under an advisory lock so that replicas creating the
same month at once do not collide. Retention drops whole partitions.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, text

from spendtap.engine.timestamps import epoch_ms

log = logging.getLogger(__name__)

#: pg_advisory_xact_lock key taken while partitions are created or dropped.
PARTITION_LOCK = 0x5350_5444_5041_5254  # "SPTDPART"
_NAME = re.compile(r"events_p(\d{4})(\d{2})")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def of_ms(cls, ms: int) -> Month:
        moment = _EPOCH + timedelta(milliseconds=ms)
        return cls(moment.year, moment.month)

    @classmethod
    def of_table(cls, name: str) -> Month | None:
        match = _NAME.fullmatch(name)
        return cls(int(match.group(1)), int(match.group(2))) if match else None

    @property
    def table(self) -> str:
        return f"events_p{self.year:04d}{self.month:02d}"

    @property
    def start_ms(self) -> int:
        return epoch_ms(datetime(self.year, self.month, 1, tzinfo=UTC))

    @property
    def end_ms(self) -> int:
        return self.next().start_ms

    def next(self) -> Month:
        if self.month == 12:
            return Month(self.year + 1, 1)
        return Month(self.year, self.month + 1)


class PartitionCache:
    """The months known to have a partition, so each is checked once per process."""

    def __init__(self) -> None:
        self._known: set[Month] = set()

    def ensure(self, engine: Engine, months: Iterable[Month]) -> None:
        """Create the partitions of ``months`` that do not exist yet (PostgreSQL)."""
        if engine.dialect.name != "postgresql":
            return
        missing = sorted(set(months) - self._known)
        if not missing:
            return
        with engine.begin() as conn:
            create_partitions(conn, missing)
        self._known.update(missing)

    def forget(self) -> None:
        self._known.clear()


def create_partitions(conn: Connection, months: Iterable[Month]) -> None:
    """Create the missing partitions among ``months`` in this transaction."""
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PARTITION_LOCK})
    existing = set(partition_months(conn))
    for month in sorted(set(months) - existing):
        conn.execute(
            text(
                f"CREATE TABLE IF NOT EXISTS {month.table} PARTITION OF events "
                f"FOR VALUES FROM ({month.start_ms}) TO ({month.end_ms})"
            )
        )
        log.info("engine.partition.created table=%s", month.table)


def partition_months(conn: Connection) -> list[Month]:
    """The months that have a partition of ``events``, oldest first."""
    rows = conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent "
            "WHERE p.relname = 'events' AND p.relnamespace = c.relnamespace "
            "AND p.relnamespace = to_regnamespace(current_schema())"
        )
    ).scalars()
    months = [Month.of_table(name) for name in rows]
    return sorted(m for m in months if m is not None)

"""Retention of raw events by policy; rollups (and the id ledger) are kept.

``--retain-events 90d`` removes the raw events that started more than 90 days ago.
On PostgreSQL whole monthly partitions past the cutoff are dropped (no row-by-row
delete, no bloat) and the one month the cutoff falls in is trimmed; on SQLite rows are
deleted in chunks, each its own short transaction so ingest keeps flowing.

Reports are unchanged by retention: they read the rollups. The ``event_index`` ledger
keeps every event id, so an old event sent again is still recognised as a duplicate
(a few dozen bytes per event; see docs/engine-scaling.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, select, text

from spendtap.engine.database import write_transaction
from spendtap.engine.partitions import PARTITION_LOCK, partition_months
from spendtap.engine.store import partition_cache
from spendtap.engine.tables import events
from spendtap.engine.timestamps import epoch_ms

log = logging.getLogger(__name__)

SQLITE_CHUNK = 20_000


@dataclass(frozen=True, slots=True)
class RetentionResult:
    cutoff_ms: int
    events_deleted: int
    partitions_dropped: tuple[str, ...] = ()


def apply_retention(engine: Engine, keep: timedelta, now: datetime) -> RetentionResult:
    """Remove raw events that started before ``now - keep``."""
    cutoff = epoch_ms(now - keep)
    if engine.dialect.name == "postgresql":
        result = _retire_postgres(engine, cutoff)
    else:
        result = _retire_sqlite(engine, cutoff)
    if result.events_deleted or result.partitions_dropped:
        log.info(
            "engine.retention.applied cutoff_ms=%d rows=%d partitions=%d",
            cutoff,
            result.events_deleted,
            len(result.partitions_dropped),
        )
    return result


def _retire_postgres(engine: Engine, cutoff: int) -> RetentionResult:
    dropped: list[str] = []
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PARTITION_LOCK})
        for month in partition_months(conn):
            if month.end_ms <= cutoff:
                conn.execute(text(f"DROP TABLE IF EXISTS {month.table}"))
                dropped.append(month.table)
        deleted = conn.execute(delete(events).where(events.c.started_ms < cutoff))
    if dropped:
        partition_cache(engine).forget()
    return RetentionResult(cutoff, deleted.rowcount, tuple(dropped))


def _retire_sqlite(engine: Engine, cutoff: int) -> RetentionResult:
    total = 0
    while True:
        oldest = (
            select(events.c.seq)
            .where(events.c.started_ms < cutoff)
            .limit(SQLITE_CHUNK)
            .scalar_subquery()
        )
        with write_transaction(engine) as conn:
            deleted = conn.execute(delete(events).where(events.c.seq.in_(oldest)))
        total += deleted.rowcount
        if deleted.rowcount < SQLITE_CHUNK:
            return RetentionResult(cutoff, total)

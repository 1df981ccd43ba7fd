"""Drop records: events a collector lost on purpose (a spool bound), so gaps show.

A collector ships ``{"drop_id", "device_id", "count", "reason", "first_at",
"last_at"}`` per drop; the engine keeps each ``drop_id`` once, lists them, and adds the
counts that overlap a report's window to its ``dropped_events`` total.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.dialects import postgresql, sqlite

from spendtap.engine.database import write_transaction
from spendtap.engine.tables import drops
from spendtap.engine.timestamps import format_rfc3339, rfc3339_to_ms

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DropRecord:
    drop_id: str
    device_id: str | None
    count: int
    reason: str
    first_at: str
    last_at: str


@dataclass(frozen=True, slots=True)
class StoredDrop:
    record: DropRecord
    received_at: str
    shipped_by: str | None


@dataclass(frozen=True, slots=True)
class DropsResult:
    accepted: int
    duplicates: int
    dropped_events: int
    """The sum of the counts of the records accepted now."""


def store_drops(
    engine: Engine,
    records: Sequence[DropRecord],
    received_at: datetime,
    shipped_by: str | None,
) -> DropsResult:
    """Keep each new ``drop_id`` once; repeats are counted as duplicates."""
    if not records:
        return DropsResult(0, 0, 0)
    received = format_rfc3339(received_at)
    rows = [_row(r, received, shipped_by) for r in _first_of_each(records)]
    with write_transaction(engine) as conn:
        new = _insert_new(conn, rows)
    counts = {r.drop_id: r.count for r in records}
    dropped = sum(counts[drop_id] for drop_id in new)
    if new:
        log.warning("engine.drops.recorded records=%d events=%d", len(new), dropped)
    return DropsResult(len(new), len(records) - len(new), dropped)


def list_drops(engine: Engine, after: str | None, limit: int) -> list[StoredDrop]:
    """Drop records ordered by drop_id, those after ``after`` (a page)."""
    stmt = select(drops).order_by(drops.c.drop_id).limit(limit)
    if after is not None:
        stmt = stmt.where(drops.c.drop_id > after)
    with engine.connect() as conn:
        return [
            StoredDrop(
                DropRecord(
                    drop_id=row["drop_id"],
                    device_id=row["device_id"],
                    count=row["count"],
                    reason=row["reason"],
                    first_at=row["first_at"],
                    last_at=row["last_at"],
                ),
                received_at=row["received_at"],
                shipped_by=row["shipped_by"],
            )
            for row in conn.execute(stmt).mappings()
        ]


def dropped_in_window(engine: Engine, since: int | None, until: int | None) -> int:
    """Events reported dropped by records overlapping ``[since, until)`` (seconds)."""
    stmt = select(func.coalesce(func.sum(drops.c.count), 0))
    if since is not None:
        stmt = stmt.where(drops.c.last_ms >= since * 1000)
    if until is not None:
        stmt = stmt.where(drops.c.first_ms < until * 1000)
    with engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def _first_of_each(records: Sequence[DropRecord]) -> list[DropRecord]:
    first: dict[str, DropRecord] = {}
    for record in records:
        first.setdefault(record.drop_id, record)
    return list(first.values())


def _row(
    record: DropRecord, received: str, shipped_by: str | None
) -> dict[str, object]:
    return {
        "drop_id": record.drop_id,
        "device_id": record.device_id,
        "count": record.count,
        "reason": record.reason,
        "first_at": record.first_at,
        "last_at": record.last_at,
        "first_ms": rfc3339_to_ms(record.first_at),
        "last_ms": rfc3339_to_ms(record.last_at),
        "received_at": received,
        "shipped_by": shipped_by,
    }


def _insert_new(conn: Connection, rows: list[dict[str, object]]) -> list[str]:
    make = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = (
        make(drops)
        .on_conflict_do_nothing(index_elements=[drops.c.drop_id])
        .returning(drops.c.drop_id)
    )
    return list(conn.execute(stmt, rows).scalars())

"""Storing a batch: new events appended, duplicates skipped, rollups updated, at once.

One transaction per batch: the events whose ``event_id`` is new are inserted and their
sums added to the rollup buckets; if anything fails, nothing of the batch is stored.
A duplicate (already stored, or repeated inside the batch) is counted, not stored.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from spendtap.engine.database import write_transaction
from spendtap.engine.dialect import add_to_rollup, insert_new_events
from spendtap.engine.money import usd_to_nanos
from spendtap.engine.rollup import rollup_deltas
from spendtap.engine.timestamps import format_rfc3339
from spendtap.event import UsageEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StoreResult:
    accepted: int
    duplicates: int


def store_batch(
    engine: Engine, events: Sequence[UsageEvent], received_at: datetime
) -> StoreResult:
    """Store ``events`` (received at ``received_at``) exactly once each."""
    unique = _first_of_each_id(events)
    received = format_rfc3339(received_at)
    rows = [event_row(event, received) for event in unique]
    with write_transaction(engine) as conn:
        inserted = insert_new_events(conn, rows)
        fresh = [event for event in unique if event.event_id in inserted]
        deltas = sorted(rollup_deltas(fresh).items())
        add_to_rollup(conn, [{**key.as_row(), **sums.as_row()} for key, sums in deltas])
    return StoreResult(accepted=len(inserted), duplicates=len(events) - len(inserted))


def event_row(event: UsageEvent, received_at: str) -> dict[str, object]:
    """The ``events`` table row of ``event``: enums as text, cost as nano-USD."""
    row: dict[str, object] = {}
    for field in dataclasses.fields(event):
        value = getattr(event, field.name)
        row[field.name] = value.value if isinstance(value, enum.Enum) else value
    del row["cost_usd"]
    row["cost_nanos"] = None if event.cost_usd is None else usd_to_nanos(event.cost_usd)
    row["received_at"] = received_at
    return row


def _first_of_each_id(events: Sequence[UsageEvent]) -> list[UsageEvent]:
    first: dict[str, UsageEvent] = {}
    for event in events:
        first.setdefault(event.event_id, event)
    return list(first.values())

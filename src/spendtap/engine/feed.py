"""Reading raw events: in arrival order after a cursor (the live feed), or by id.

The cursor is the event's ``seq``. Sequence numbers are taken under the ingest lock
and in the same transaction as the rows, so they follow commit order: a reader that
has seen seq N has seen everything stored before it, on every replica. These reads
are the only ones that touch ``events``; reports never do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, RowMapping, select

from spendtap.engine.money import nanos_to_usd
from spendtap.engine.tables import event_index, event_links, events
from spendtap.event import EVENT_FIELDS


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A stored usage event as the API shows it: the contract fields (cost as an
    exact Decimal) and what the engine added on arrival."""

    seq: int
    fields: tuple[tuple[str, object], ...]
    received_at: str
    clock_skew_s: int | None
    shipped_by: str | None

    @property
    def event_id(self) -> str:
        return str(dict(self.fields)["event_id"])

    def to_json(self) -> dict[str, object]:
        return {
            **dict(self.fields),
            "seq": self.seq,
            "received_at": self.received_at,
            "clock_skew_s": self.clock_skew_s,
            "shipped_by": self.shipped_by,
        }


@dataclass(frozen=True, slots=True)
class Link:
    event_id: str
    capture_source: str
    matched_by: str
    filled: tuple[str, ...]
    linked_at: str

    def to_json(self) -> dict[str, object]:
        return {
            "event_id": self.event_id,
            "capture_source": self.capture_source,
            "matched_by": self.matched_by,
            "filled": list(self.filled),
            "linked_at": self.linked_at,
        }


@dataclass(frozen=True, slots=True)
class EventLookup:
    """What the engine knows of an event id."""

    event_id: str
    stored_id: str
    """The stored call this id is: itself, or the one it duplicates."""
    event: StoredEvent | None
    """None when the retention policy has removed the raw event."""
    links: tuple[Link, ...]


def events_after(engine: Engine, after: int, limit: int) -> list[StoredEvent]:
    """Up to ``limit`` events with seq greater than ``after``, in arrival order."""
    stmt = (
        select(events).where(events.c.seq > after).order_by(events.c.seq).limit(limit)
    )
    with engine.connect() as conn:
        return [stored_event(row) for row in conn.execute(stmt).mappings()]


def last_seq(engine: Engine) -> int:
    """The seq of the newest stored event (0 when none): a feed cursor for "now"."""
    stmt = select(events.c.seq).order_by(events.c.seq.desc()).limit(1)
    with engine.connect() as conn:
        value = conn.execute(stmt).scalar()
    return 0 if value is None else int(value)


def find_event(engine: Engine, event_id: str) -> EventLookup | None:
    """The event ``event_id`` (or the stored call it duplicates), None if unknown."""
    with engine.connect() as conn:
        entry = _ledger(conn, event_id)
        if entry is None:
            return None
        stored_id = entry["duplicate_of"] or event_id
        stored = entry if stored_id == event_id else _ledger(conn, stored_id)
        event = _event(conn, stored) if stored is not None else None
        links = conn.execute(
            select(event_links)
            .where(event_links.c.duplicate_of == stored_id)
            .order_by(event_links.c.linked_at, event_links.c.event_id)
        ).mappings()
        return EventLookup(
            event_id=event_id,
            stored_id=stored_id,
            event=event,
            links=tuple(_link(row) for row in links),
        )


def stored_event(row: Mapping[Any, Any]) -> StoredEvent:
    fields: list[tuple[str, object]] = []
    for name in EVENT_FIELDS:
        if name == "cost_usd":
            value: object = _usd(row["cost_nanos"])
        elif name == "agent_cost_usd":
            value = _usd(row["agent_cost_nanos"])
        elif name == "streaming":
            value = bool(row["streaming"])
        else:
            value = row[name]
        fields.append((name, value))
    seq, skew = row["seq"], row["clock_skew_s"]
    assert isinstance(seq, int) and (skew is None or isinstance(skew, int))
    return StoredEvent(
        seq=seq,
        fields=tuple(fields),
        received_at=str(row["received_at"]),
        clock_skew_s=skew,
        shipped_by=None if row["shipped_by"] is None else str(row["shipped_by"]),
    )


def _usd(nanos: object) -> Decimal | None:
    if nanos is None:
        return None
    assert isinstance(nanos, int)
    return nanos_to_usd(nanos)


def _ledger(conn: Connection, event_id: str) -> RowMapping | None:
    stmt = select(event_index).where(event_index.c.event_id == event_id)
    return conn.execute(stmt).mappings().first()


def _event(conn: Connection, entry: RowMapping) -> StoredEvent | None:
    if entry["seq"] is None:
        return None
    stmt = select(events).where(
        events.c.seq == entry["seq"], events.c.started_ms == entry["started_ms"]
    )
    row = conn.execute(stmt).mappings().first()
    return None if row is None else stored_event(row)


def _link(row: RowMapping) -> Link:
    filled = tuple(row["filled"].split(",")) if row["filled"] else ()
    return Link(
        event_id=row["event_id"],
        capture_source=row["capture_source"],
        matched_by=row["matched_by"],
        filled=filled,
        linked_at=row["linked_at"],
    )
